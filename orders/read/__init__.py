"""The orders read side (CQRS), an app of its own: label and database alias `orders_read`.

  models.py      OrderSummary (one row per order: everything GET /api/orders/ shows), the
                 product index behind "orders with product X", ProjectionState (generations)
  projection.py  the event handler that builds the summaries from orders', catalog's and
                 delivery's events — the only writer
  queries.py     the API's reads (who may see what), read-your-writes, lag
  management/commands/rebuild_projections.py   rebuild from the event log into a new generation

It is part of the orders service (shop/topology.py) and imports nothing of the write side: it
knows the event types by their names in shop/event_types.py, and what it knows of an order, it
learnt from events.
"""
