"""What orders does when it consumes an event. Each handler runs in one transaction on the
orders database together with its inbox row (a redelivered event is a no-op); the services it
calls are idempotent as well, so a replayed or duplicated fact changes nothing twice."""

from __future__ import annotations

from decimal import Decimal

from events import Event, handles
from orders import services

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


@handles("shop.catalog.product_created.v1")
def on_product_created(event: Event) -> None:
    _upsert_snapshot(event)


@handles("shop.catalog.product_updated.v1")
def on_product_updated(event: Event) -> None:
    _upsert_snapshot(event)


@handles("shop.catalog.price_changed.v1")
def on_price_changed(event: Event) -> None:
    services.change_product_price(
        product_id=event.data["product_id"],
        price=Decimal(event.data["new_price"]),
        currency=event.data["currency"],
    )


# --- catalog: stock for an order ------------------------------------------------------------------


@handles("shop.catalog.stock_reserved.v1")
def on_stock_reserved(event: Event) -> None:
    services.confirm_order(order_id=event.data["order_id"])


@handles("shop.catalog.stock_rejected.v1")
def on_stock_rejected(event: Event) -> None:
    services.reject_order(order_id=event.data["order_id"], reason=event.data["reason"])


# --- delivery: the shipment -----------------------------------------------------------------------


@handles("shop.delivery.shipment_created.v1")
def on_shipment_created(event: Event) -> None:
    services.record_shipment(
        order_id=event.data["order_id"],
        shipment_id=event.data["shipment_id"],
        tracking_code=event.data["tracking_code"],
    )


@handles("shop.delivery.shipment_picked_up.v1")
def on_shipment_picked_up(event: Event) -> None:
    services.mark_shipped(
        order_id=event.data["order_id"],
        shipment_id=event.data["shipment_id"],
        tracking_code=event.data["tracking_code"],
    )


@handles("shop.delivery.shipment_delivered.v1")
def on_shipment_delivered(event: Event) -> None:
    services.mark_delivered(order_id=event.data["order_id"], shipment_id=event.data["shipment_id"])
