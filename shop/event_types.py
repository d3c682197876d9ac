"""Every event type of the shop, named once, under the service that publishes it. Each is a
contract, not code: its schema is events/schemas/<type>.json, which also names its topic
(`x-topic`). The apps never import each other; like the schemas, they share these names: a
publisher and its consumers cannot spell a type two ways."""

# Published by catalog.
PRODUCT_CREATED = "shop.catalog.product_created.v1"
PRODUCT_UPDATED = "shop.catalog.product_updated.v1"
PRICE_CHANGED = "shop.catalog.price_changed.v1"
STOCK_RESERVED = "shop.catalog.stock_reserved.v1"
STOCK_REJECTED = "shop.catalog.stock_rejected.v1"
STOCK_RELEASED = "shop.catalog.stock_released.v1"

# Published by orders.
ORDER_PLACED = "shop.orders.order_placed.v1"
ORDER_CONFIRMED = "shop.orders.order_confirmed.v1"
ORDER_REJECTED = "shop.orders.order_rejected.v1"
ORDER_CANCELLED = "shop.orders.order_cancelled.v1"
ORDER_SHIPPED = "shop.orders.order_shipped.v1"
ORDER_DELIVERED = "shop.orders.order_delivered.v1"

# Published by delivery: one per shipment status.
SHIPMENT_CREATED = "shop.delivery.shipment_created.v1"
SHIPMENT_PICKED_UP = "shop.delivery.shipment_picked_up.v1"
SHIPMENT_IN_TRANSIT = "shop.delivery.shipment_in_transit.v1"
SHIPMENT_DELIVERED = "shop.delivery.shipment_delivered.v1"
SHIPMENT_CANCELLED = "shop.delivery.shipment_cancelled.v1"

# Published by identity (the shop service): consumed by every service that authenticates
# without the user table, into its replica of users' rights (shop/rights).
USER_RIGHTS_CHANGED = "shop.identity.user_rights_changed.v1"
