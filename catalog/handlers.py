"""Event handlers of catalog: the stock side of the order saga.

Each runs inside one transaction on the catalog database together with its inbox row (see
events/inbox/apply.py), so a redelivered event changes nothing; the services are idempotent per
order as well, which covers an order's event arriving twice under different ids.
"""

from __future__ import annotations

from catalog import services
from events import Event, handles
from shop.event_types import ORDER_CANCELLED, ORDER_PLACED


@handles(ORDER_PLACED)
def on_order_placed(event: Event) -> None:
    """Reserve every line of the new order or none (-> stock_reserved / stock_rejected)."""
    services.reserve_stock(
        order_id=event.data["order_id"],
        lines=[services.StockLine(line["product_id"], line["quantity"]) for line in event.data["lines"]],
    )


@handles(ORDER_CANCELLED)
def on_order_cancelled(event: Event) -> None:
    """Give back the cancelled order's stock, if it had any reserved (-> stock_released)."""
    services.release_stock(order_id=event.data["order_id"])
