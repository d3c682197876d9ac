"""Prometheus metrics of the event pipeline (exposed at /metrics by shop.urls)."""

from prometheus_client import Counter, Gauge, Histogram

RELAYED = Counter("shop_events_relayed_total", "Outbox rows sent and acknowledged", ["database", "topic"])
RELAY_BATCH_SECONDS = Histogram(
    "shop_relay_batch_seconds", "Time to send one outbox batch and mark it published", ["database"]
)
RELAY_FAILURES = Counter("shop_relay_failures_total", "Batches the transport failed to send", ["database"])
OUTBOX_BACKLOG = Gauge("shop_outbox_backlog", "Unpublished outbox rows", ["database"])
OUTBOX_OLDEST_AGE = Gauge("shop_outbox_oldest_age_seconds", "Age of the oldest unpublished row", ["database"])
HANDLED = Counter("shop_events_handled_total", "Events handled, by outcome", ["handler", "outcome"])
HANDLER_FAILURES = Counter("shop_handler_failures_total", "Handler attempts that raised", ["handler"])
DEAD_LETTERS = Counter("shop_dead_letters_total", "Events parked as dead letters", ["handler"])
CONSUMER_LAG = Gauge(
    "shop_consumer_lag", "Messages behind the end of the partition", ["group", "topic", "partition"]
)
PROJECTION_LAG_EVENTS = Gauge(
    "shop_projection_lag_events", "Events not yet applied by a projection", ["projection"]
)
PROJECTION_LAG_SECONDS = Gauge(
    "shop_projection_lag_seconds", "Age of the oldest event a projection has not applied", ["projection"]
)
