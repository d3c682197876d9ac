"""The read side became an app of its own (orders_read) with its tables where they were: a
database migrated before the move keeps its summaries and its inbox, and migrates cleanly."""

import uuid

import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from events.models import InboxEntry
from orders.read.models import OrderSummary

pytestmark = pytest.mark.django_db(databases=["orders_read"], transaction=True)

# Where a database stood before the move: the read side's tables made by the orders app's
# migrations 0002-0003, and no orders_read app at all.
BEFORE_THE_MOVE = [("orders", "0003_ordersummaryproduct_summary"), ("orders_read", None)]


def migrate(targets=None) -> None:
    executor = MigrationExecutor(connections["orders_read"])
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def test_a_database_from_before_the_move_keeps_its_summaries_and_applied_events():
    migrate(BEFORE_THE_MOVE)
    event_id = uuid.uuid4()
    try:
        OrderSummary.objects.using("orders_read").create(generation=1, order_id=7, status="CONFIRMED")
        InboxEntry.objects.using("orders_read").create(
            event_id=event_id, handler="orders.project_order_summary", type="shop.orders.order_confirmed.v1"
        )
    finally:
        migrate()

    summary = OrderSummary.objects.using("orders_read").get(generation=1, order_id=7)
    assert summary.status == "CONFIRMED"
    # The projection's inbox rows follow its new name, so the event it applied is still a no-op.
    handlers = (
        InboxEntry.objects.using("orders_read").filter(event_id=event_id).values_list("handler", flat=True)
    )
    assert list(handlers) == ["orders_read.project_order_summary"]
