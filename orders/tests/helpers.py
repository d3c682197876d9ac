"""Helpers for orders' tests: feed consumed events to orders' handlers, read what orders published."""

from __future__ import annotations

from typing import Any

from events.envelope import Event
from events.inbox.apply import Outcome
from events.inbox.deliver import deliver
from events.models import OutboxEvent
from events.registry import get_handler
from events.schemas import validate
from events.testing import event

ALIAS = "orders"
DBS = ["orders"]
API_DBS = ["default", "orders", "orders_read"]  # the user fixtures live in default


def feed(handler: str, evt: Event) -> Outcome:
    """Deliver `evt` to orders' handler `handler` the way the consumer runtime does."""
    return deliver(evt, get_handler(f"orders.{handler}"), attempts=1)


def saga_observations(status: str) -> tuple[float, float]:
    """(count, sum of seconds) of the saga histogram for `status`, to compare before and after."""
    from prometheus_client import REGISTRY

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(f"shop_order_saga_seconds_{name}", {"status": status}) or 0.0

    return sample("count"), sample("sum")


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


def project_published() -> None:
    """Run the read-side projection (only it) over everything orders has published, as the
    relay would deliver it: reads in the API come from that projection."""
    from events.inbox.apply import apply
    from events.models import OutboxEvent

    projection = get_handler("orders_read.project_order_summary")
    for envelope in OutboxEvent.objects.using("orders").order_by("id").values_list("envelope", flat=True):
        apply(Event.from_dict(envelope), projection)


def placed_order(customer_id: int, *, cancel: bool = False, project: bool = True):
    """An order placed through the service (one 10.00 line), optionally cancelled, projected."""
    from decimal import Decimal

    from orders import services
    from orders.models import ProductSnapshot

    ProductSnapshot.objects.get_or_create(
        product_id=1, defaults={"sku": "SKU-1", "name": "Mug", "price": Decimal("10.00"), "currency": "EUR"}
    )
    order = services.place_order(
        customer_id=customer_id, lines=[{"product_id": 1, "quantity": 1}], shipping_address="1 Main Street"
    )
    if cancel:
        order = services.cancel_order(order_id=order.pk, reason="changed my mind")
    if project:
        project_published()
    return order
