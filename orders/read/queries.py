"""Reads of the API, served from the read side only (orders_read): never the write database.

Who may see what is decided here, once: a customer sees only their own orders, staff see all.
An order whose order_placed has not been projected yet is invisible (it has no customer).
"""

from __future__ import annotations

import time
from datetime import datetime

from django.conf import settings
from django.db.models import F, QuerySet

from events.models import InboxEntry
from orders.read.apps import ALIAS
from orders.read.models import OrderSummary
from orders.read.projection import PROJECTION, TOPICS, projection_state

# The inbox name of orders.read.projection.project_order_summary: its inbox rows say what the
# read side has applied.
PROJECTION_HANDLER = "orders_read.project_order_summary"

# Newest first. The sort keys are annotations so that a list read through another table's index
# sorts by that table's copy of placed_at/order_id (see `product` below); the API's cursor
# pagination (orders/api/views.NewestFirst) orders and seeks by these same names.
LIST_ORDERING = ("-listed_at", "-listed_order_id")


def list_summaries_for(
    *,
    user_id: int,
    is_staff: bool,
    status: str | None = None,
    placed_after: datetime | None = None,
    placed_before: datetime | None = None,
    product: int | None = None,
) -> QuerySet[OrderSummary]:
    """Summaries `user_id` may see, newest first, filtered; each filter is served by an index."""
    generation = projection_state().active_generation
    summaries = OrderSummary.objects.using(ALIAS).filter(generation=generation, customer_id__isnull=False)
    if not is_staff:
        summaries = summaries.filter(customer_id=user_id)
    if status:
        summaries = summaries.filter(status=status)
    if placed_after:
        summaries = summaries.filter(placed_at__gte=placed_after)
    if placed_before:
        summaries = summaries.filter(placed_at__lt=placed_before)
    if product:
        # Walk OrderSummaryProduct's (generation, product_id, -placed_at, -order_id) index newest
        # first and fetch each row's summary by (generation, order_id): one page reads one page.
        # (`order_id IN (subquery)` sorted by the summary's own placed_at cannot use that index:
        # Postgres reads either every order with the product and sorts them, or the newest
        # orders of all until it has found a page's worth with the product.)
        rows = {"product_row__product_id": product}
        if not is_staff:
            rows["product_row__customer_id"] = user_id  # served by summary_by_customer_product
        summaries = summaries.filter(**rows).annotate(
            listed_at=F("product_row__placed_at"), listed_order_id=F("product_row__order_id")
        )
    else:
        summaries = summaries.annotate(listed_at=F("placed_at"), listed_order_id=F("order_id"))
    return summaries.order_by(*LIST_ORDERING)


def get_summary_for(*, order_id: int, user_id: int, is_staff: bool) -> OrderSummary | None:
    """The summary if `user_id` may see it; None if unknown or someone else's (both a 404)."""
    return list_summaries_for(user_id=user_id, is_staff=is_staff).filter(order_id=order_id).first()


def wait_for_event(event_id: str, timeout: float | None = None) -> bool:
    """Block until the read side has applied `event_id` (the consistency token a write returned),
    or `timeout` passes. True if applied: read-your-writes without client-side polling."""
    timeout = settings.ORDERS_READ_YOUR_WRITES_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    entries = InboxEntry.objects.using(ALIAS).filter(handler=PROJECTION_HANDLER)
    while True:
        if entries.filter(event_id=event_id).exists():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def projection_lag() -> dict:
    """The read side's freshness: events not yet applied, their age, and what was applied."""
    from events import metrics
    from events.lag import events_behind

    state = projection_state()
    behind, age = events_behind(ALIAS, TOPICS)
    metrics.PROJECTION_LAG_EVENTS.labels(PROJECTION).set(behind)
    metrics.PROJECTION_LAG_SECONDS.labels(PROJECTION).set(age)
    return {
        "name": PROJECTION,
        "lag_events": behind,
        "lag_seconds": round(age, 3),
        "events_applied": state.events_applied,
        "last_event_time": state.last_event_time,
        "last_applied_at": state.last_applied_at,
        "active_generation": state.active_generation,
        "building_generation": state.building_generation,
    }
