"""The saga's own Prometheus metrics: how long an order takes from its POST to CONFIRMED and to
DELIVERED — what a customer waits for, across every service and queue on the way.

Observed by the process that moves the order (the orders consumer in shapes 2 and 3), once per
order: the transition is a conditional UPDATE, so a redelivered event observes nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Histogram

from events import tracing

log = logging.getLogger(__name__)

# From sub-second confirmations to deliveries whose steps take minutes (DELIVERY_STEP_SECONDS).
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
SAGA_SECONDS = Histogram(
    "shop_order_saga_seconds",
    "Seconds from an order's POST (its created_at) to it reaching `status`",
    ["status"],
    buckets=BUCKETS,
)


def observe_on_commit(order_id: int, status: str, created_at: datetime, *, using: str) -> None:
    """Once the transition commits: record the time from `created_at` to now for `status`, and
    log it (in the order's trace and request, whenever the commit happens)."""

    def record() -> None:
        seconds = (timezone.now() - created_at).total_seconds()
        SAGA_SECONDS.labels(status).observe(seconds)
        log.info("order %s %s %.3f s after it was placed", order_id, status, seconds)

    transaction.on_commit(tracing.bind(record), using=using)
