"""Celery tasks of orders."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from orders import services


@shared_task(name="orders.tasks.expire_pending_orders")
def expire_pending_orders() -> int:
    """Cancel orders left PENDING longer than ORDER_PENDING_TIMEOUT_MINUTES (run by Celery beat).
    Safe to run concurrently or repeatedly: each order is cancelled at most once."""
    cutoff = timezone.now() - timedelta(minutes=settings.ORDER_PENDING_TIMEOUT_MINUTES)
    return services.expire_pending_orders(older_than=cutoff)
