"""What delivery does when orders' events arrive. Thin: each handler calls one service.

Each runs in one transaction on the `delivery` database with its inbox row (events.inbox),
so a redelivered event is a no-op; the services are idempotent besides.
"""

from __future__ import annotations

from delivery import services
from events import Event, handles
from shop.event_types import ORDER_CANCELLED, ORDER_CONFIRMED


@handles(ORDER_CONFIRMED)
def on_order_confirmed(event: Event) -> None:
    """A confirmed order gets its shipment (one per order, however often this arrives)."""
    services.create_shipment(
        order_id=event.data["order_id"],
        customer_id=event.data["customer_id"],
        address=event.data["shipping_address"],
    )


@handles(ORDER_CANCELLED)
def on_order_cancelled(event: Event) -> None:
    """Cancel the order's shipment if it has not been picked up (see cancel_shipment)."""
    services.cancel_shipment(order_id=event.data["order_id"])
