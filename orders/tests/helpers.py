"""Helpers for orders' tests: feed consumed events to orders' handlers, read what orders published."""

from __future__ import annotations

from typing import Any

from events.consumer import Outcome, deliver
from events.envelope import Event
from events.models import OutboxEvent
from events.registry import get_handler
from events.schemas import validate

ALIAS = "orders"
DBS = ["orders"]
API_DBS = ["default", "orders"]  # the user fixtures live in default


def event(event_type: str, subject: Any, **data: Any) -> Event:
    return Event(type=event_type, source=f"/shop/{event_type.split('.')[1]}", subject=str(subject), data=data)


def feed(handler: str, evt: Event) -> Outcome:
    """Deliver `evt` to orders' handler `handler` the way the consumer runtime does."""
    return deliver(evt, get_handler(f"orders.{handler}"), attempts=1)


def published(event_type: str | None = None) -> list[dict[str, Any]]:
    """The data of every event orders published (oldest first), each checked against its schema."""
    rows = OutboxEvent.objects.using(ALIAS).order_by("id")
    if event_type:
        rows = rows.filter(type=event_type)
    out = []
    for row in rows:
        validate(row.type, row.envelope["data"])
        out.append(row.envelope["data"])
    return out


def outbox_count() -> int:
    return OutboxEvent.objects.using(ALIAS).count()


def product_event(kind: str, product_id: int, **overrides: Any) -> Event:
    data = {
        "product_id": product_id,
        "sku": f"SKU-{product_id}",
        "name": f"Product {product_id}",
        "price": "10.00",
        "currency": "EUR",
        "active": True,
    } | overrides
    return event(f"shop.catalog.product_{kind}.v1", product_id, **data)


def shipment_event(fact: str, order_id: int, shipment_id: int = 7, tracking_code: str = "TRK-7") -> Event:
    return event(
        f"shop.delivery.shipment_{fact}.v1",
        shipment_id,
        shipment_id=shipment_id,
        order_id=order_id,
        tracking_code=tracking_code,
        at="2026-01-01T12:00:00+00:00",
    )
