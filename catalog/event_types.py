"""The event types catalog publishes and consumes, named once. Each is a contract, not code: its
schema is events/schemas/<type>.json, which also names its topic (`x-topic`)."""

# Published by catalog.
PRODUCT_CREATED = "shop.catalog.product_created.v1"
PRODUCT_UPDATED = "shop.catalog.product_updated.v1"
PRICE_CHANGED = "shop.catalog.price_changed.v1"
STOCK_RESERVED = "shop.catalog.stock_reserved.v1"
STOCK_REJECTED = "shop.catalog.stock_rejected.v1"
STOCK_RELEASED = "shop.catalog.stock_released.v1"

# Consumed from orders.
ORDER_PLACED = "shop.orders.order_placed.v1"
ORDER_CANCELLED = "shop.orders.order_cancelled.v1"
