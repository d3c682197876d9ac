"""Helpers for catalog tests: reading what catalog published, and building consumed events."""

from __future__ import annotations

import itertools
from decimal import Decimal

from catalog.apps import ALIAS
from events import Event
from events.models import OutboxEvent
from events.schemas import validate
from events.testing import event

_order_ids = itertools.count(1000)


def new_order_id() -> int:
    return next(_order_ids)


def published(event_type: str | None = None) -> list[dict]:
    """Data of the events catalog published (its outbox), oldest first, with `type` and `key`.

    Each is validated against its schema again, so a test fails on an event that breaks the
    contract even if publish() let it through.
    """
    rows = OutboxEvent.objects.using(ALIAS).order_by("id")
    if event_type is not None:
        rows = rows.filter(type=event_type)
    found = []
    for row in rows:
        validate(row.type, row.envelope["data"])
        found.append({"type": row.type, "key": row.key, **row.envelope["data"]})
    return found


def order_placed(order_id: int, lines: list[tuple[int, int]]) -> Event:
    """The order_placed event orders would publish for these (product_id, quantity) lines."""
    return event(
        "shop.orders.order_placed.v1",
        order_id,
        order_id=order_id,
        customer_id=1,
        currency="EUR",
        total=f"{Decimal('1.00') * sum(q for _, q in lines):.2f}",
        shipping_address="1 Test Street, Testville",
        lines=[
            {
                "product_id": pid,
                "sku": f"SKU-{pid}",
                "name": f"Product {pid}",
                "unit_price": "1.00",
                "quantity": q,
            }
            for pid, q in lines
        ],
    )


def order_cancelled(order_id: int, reason: str = "customer changed their mind") -> Event:
    return event("shop.orders.order_cancelled.v1", order_id, order_id=order_id, reason=reason)
