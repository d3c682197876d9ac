"""Reads of orders for the API. Who may see what is decided here, once: a customer sees only
their own orders, staff see every order."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import Order


def list_orders_for(*, user_id: int, is_staff: bool) -> QuerySet[Order]:
    """The orders `user_id` may see, newest first, with their lines prefetched."""
    orders = Order.objects.prefetch_related("lines").order_by("-created_at", "-id")
    return orders if is_staff else orders.filter(customer_id=user_id)


def get_order_for(*, order_id: int, user_id: int, is_staff: bool) -> Order | None:
    """The order if `user_id` may see it; None if it does not exist or belongs to someone else
    (the two are indistinguishable on purpose: the API answers 404 for both)."""
    return list_orders_for(user_id=user_id, is_staff=is_staff).filter(pk=order_id).first()
