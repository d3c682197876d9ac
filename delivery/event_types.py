"""The event types delivery publishes and consumes, named once. Each is a contract, not code: its
schema is events/schemas/<type>.json, which also names its topic (`x-topic`)."""

# Published by delivery: one per shipment status.
SHIPMENT_CREATED = "shop.delivery.shipment_created.v1"
SHIPMENT_PICKED_UP = "shop.delivery.shipment_picked_up.v1"
SHIPMENT_IN_TRANSIT = "shop.delivery.shipment_in_transit.v1"
SHIPMENT_DELIVERED = "shop.delivery.shipment_delivered.v1"
SHIPMENT_CANCELLED = "shop.delivery.shipment_cancelled.v1"

# Consumed from orders.
ORDER_CONFIRMED = "shop.orders.order_confirmed.v1"
ORDER_CANCELLED = "shop.orders.order_cancelled.v1"
