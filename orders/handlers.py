"""What orders does when it consumes an event. Each handler runs in one transaction on the
orders database together with its inbox row (a redelivered event is a no-op); the services it
calls are idempotent as well, so a replayed or duplicated fact changes nothing twice."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from events import Event, handles
from orders import services
from shop import event_types

# --- catalog: the product snapshot ----------------------------------------------------------------


def _upsert_snapshot(event: Event) -> None:
    data = event.data
    services.upsert_product_snapshot(
        product_id=data["product_id"],
        sku=data["sku"],
        name=data["name"],
        price=Decimal(data["price"]),
        currency=data["currency"],
        active=data["active"],
    )


@handles(event_types.PRODUCT_CREATED)
def on_product_created(event: Event) -> None:
    _upsert_snapshot(event)


@handles(event_types.PRODUCT_UPDATED)
def on_product_updated(event: Event) -> None:
    _upsert_snapshot(event)


@handles(event_types.PRICE_CHANGED)
def on_price_changed(event: Event) -> None:
    services.change_product_price(
        product_id=event.data["product_id"],
        price=Decimal(event.data["new_price"]),
        currency=event.data["currency"],
    )


# --- catalog: stock for an order ------------------------------------------------------------------


@handles(event_types.STOCK_RESERVED)
def on_stock_reserved(event: Event) -> None:
    services.confirm_order(order_id=event.data["order_id"])


@handles(event_types.STOCK_REJECTED)
def on_stock_rejected(event: Event) -> None:
    services.reject_order(order_id=event.data["order_id"], reason=event.data["reason"])


# --- delivery: the shipment -----------------------------------------------------------------------


def _shipment(event: Event) -> dict[str, Any]:
    return {key: event.data[key] for key in ("order_id", "shipment_id", "tracking_code")}


@handles(event_types.SHIPMENT_CREATED)
def on_shipment_created(event: Event) -> None:
    services.record_shipment(**_shipment(event))


@handles(event_types.SHIPMENT_PICKED_UP)
def on_shipment_picked_up(event: Event) -> None:
    services.mark_shipped(**_shipment(event))


@handles(event_types.SHIPMENT_DELIVERED)
def on_shipment_delivered(event: Event) -> None:
    services.mark_delivered(order_id=event.data["order_id"], shipment_id=event.data["shipment_id"])
