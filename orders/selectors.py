"""Reads of the write side, for commands. The API's reads come from the read side instead
(orders/queries.py); these serve services, admin and the consistency token of a write."""

from __future__ import annotations

from django.db.models import QuerySet

from events.models import OutboxEvent
from orders.apps import ALIAS
from orders.models import Order


def list_orders_for(*, user_id: int, is_staff: bool) -> QuerySet[Order]:
    """The orders `user_id` may see, newest first, with their lines prefetched."""
    orders = Order.objects.prefetch_related("lines").order_by("-created_at", "-id")
    return orders if is_staff else orders.filter(customer_id=user_id)


def get_order_for(*, order_id: int, user_id: int, is_staff: bool) -> Order | None:
    """The order if `user_id` may see it; None if it does not exist or belongs to someone else
    (the two are indistinguishable on purpose: the API answers 404 for both)."""
    return list_orders_for(user_id=user_id, is_staff=is_staff).filter(pk=order_id).first()


def last_event_id_for(order_id: int) -> str | None:
    """The id of the newest event recorded for this order: the consistency token a write hands
    the client, which a read can then wait for (orders/queries.py wait_for_event)."""
    event_id = (
        OutboxEvent.objects.using(ALIAS)
        .filter(topic="shop.orders.order", key=str(order_id))
        .order_by("-id")
        .values_list("event_id", flat=True)
        .first()
    )
    return str(event_id) if event_id else None
