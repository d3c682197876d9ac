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


@pytest.fixture
def relay():
    """A connection LISTENing as a relay in another process does."""
    require("PostgreSQL (DATABASE_URL_ORDERS)", connections["orders"].vendor == "postgresql")
    with dedicated_connection("orders") as connection:
        connection.execute(f"LISTEN {wakeup.channel()}")
        yield connection


def woken(relay, timeout: float) -> list[str]:
    return [n.channel for n in relay.notifies(timeout=timeout, stop_after=1)]


def publish_an_event():
    publish(ORDER_REJECTED, key=1, data={"order_id": 1, "reason": "out of stock"}, using="orders")


def test_a_listening_relay_is_woken_when_a_publishing_transaction_commits_and_not_before(relay):
    with transaction.atomic(using="orders"):
        publish_an_event()
        assert woken(relay, timeout=0.5) == []
    assert woken(relay, timeout=5) == [wakeup.channel()]


def test_a_rolled_back_publish_wakes_no_relay(relay):
    with transaction.atomic(using="orders"):
        publish_an_event()
        transaction.set_rollback(True, using="orders")  # the business write failed
    assert woken(relay, timeout=1) == []
