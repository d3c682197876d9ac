"""A commit that publishes wakes the relays of other processes at once (Postgres LISTEN/NOTIFY);
without it they would find the event only at their next poll, a second later."""

import pytest
from django.db import connections, transaction

from events import publish
from events.outbox import wakeup
from events.outbox.postgres import dedicated_connection
from tests.needs import require

# events is a library: its tests name event types as text, not through shop (lint-imports).
ORDER_REJECTED = "shop.orders.order_rejected.v1"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases=["orders"], transaction=True)]


def test_a_listening_relay_is_woken_when_a_publishing_transaction_commits_and_not_before():
    require("PostgreSQL (DATABASE_URL_ORDERS)", connections["orders"].vendor == "postgresql")
    with dedicated_connection("orders") as relay:
        relay.execute(f"LISTEN {wakeup.channel()}")
        with transaction.atomic(using="orders"):
            publish(ORDER_REJECTED, key=1, data={"order_id": 1, "reason": "out of stock"}, using="orders")
            assert list(relay.notifies(timeout=0.5, stop_after=1)) == []
        woken = list(relay.notifies(timeout=5, stop_after=1))
    assert [n.channel for n in woken] == [wakeup.channel()]


def test_a_rolled_back_publish_wakes_no_relay():
    require("PostgreSQL (DATABASE_URL_ORDERS)", connections["orders"].vendor == "postgresql")
    with dedicated_connection("orders") as relay:
        relay.execute(f"LISTEN {wakeup.channel()}")
        with transaction.atomic(using="orders"):
            publish(ORDER_REJECTED, key=1, data={"order_id": 1, "reason": "out of stock"}, using="orders")
            transaction.set_rollback(True, using="orders")  # the business write failed
        assert list(relay.notifies(timeout=1, stop_after=1)) == []
