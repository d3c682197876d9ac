"""`manage.py drain` and `manage.py publish_event_history` on real Postgres and a real broker.

drain waits for a service's outboxes and consumer groups and says what it waits for;
publish_event_history turns a monolith's dispatched events into the start of the Kafka log,
consumed by nobody again, and refuses whatever would make it publish them twice.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from devtools.cluster import manage

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def run(cluster, *args: str, **env: str):
    return manage(*args, env=cluster.env(**env), check=False)


def test_drain_waits_for_the_outbox_and_the_consumer_groups_and_says_what_is_left(cluster):
    cluster.manage("seed_demo")  # 36 products: catalog's outbox holds their events, unsent
    waiting = run(cluster, "drain", "--service", "catalog", "--timeout", "1", "--interval", "0.2")
    assert waiting.returncode == 1
    assert "catalog outbox 36 pending" in waiting.stdout
    assert "catalog not drained after 1 s" in waiting.stderr

    cluster.start_relay()
    done = run(cluster, "drain", "--service", "catalog", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "catalog drained in" in done.stdout

    # Orders consumes catalog's product events, and no orders consumer runs yet.
    behind = run(cluster, "drain", "--service", "orders", "--timeout", "1", "--interval", "0.2")
    assert behind.returncode == 1
    assert f"{cluster.name}.shop.orders 36 behind" in behind.stdout

    cluster.start_consumer("orders")
    caught_up = run(cluster, "drain", "--service", "orders", "--timeout", "60")
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
    assert f"{cluster.name}.shop.orders 0 behind" in caught_up.stdout.splitlines()[-2]


def test_drain_refuses_a_service_it_cannot_see(cluster):
    done = run(cluster, "drain", "--service", "orders", SHOP_SERVICES="catalog")
    assert done.returncode == 1
    assert "this process does not serve 'orders'" in done.stderr
    assert "unknown service" in run(cluster, "drain", "--service", "warehouse").stderr


def test_the_monolith_history_goes_to_kafka_once_and_no_consumer_applies_it_again(cluster):
    # The monolith's way: seeded with the local transport, every event dispatched in-process.
    cluster.manage("seed_demo", EVENTS_TRANSPORT="local")
    snapshots = cluster.sql("orders", "SELECT count(*) FROM orders_productsnapshot")[0][0]
    applied = cluster.sql("orders", "SELECT count(*) FROM events_inboxentry")[0][0]
    assert snapshots == 36
    assert applied == 36
    # A relay running (with nothing to send, so far): the history must wait for it to stop.
    cluster.start_relay(name="standby")
    cluster.wait_until(lambda: "is active" in cluster.procs["standby"].output(), what="the relay")
    refused = run(cluster, "publish_event_history")
    assert refused.returncode == 1
    assert "a relay is running on database" in refused.stderr
    cluster.stop("standby")

    # One event the monolith had not sent when it stopped.
    cluster.manage(
        "shell",
        "-c",
        "from django.db import transaction; from events import publish\n"
        "with transaction.atomic(using='catalog'):\n"
        "    publish('shop.catalog.price_changed.v1', key=1, using='catalog', data={'product_id': 1,"
        " 'old_price': '1.00', 'new_price': '7.77', 'currency': 'EUR'})",
    )

    history = run(cluster, "publish_event_history")
    assert history.returncode == 0, history.stdout + history.stderr
    assert "36 events of history on Kafka; 1 pending for the relay" in history.stdout
    assert f"consumer group {cluster.name}.shop.orders committed" in history.stdout

    again = run(cluster, "publish_event_history")
    assert again.returncode == 1
    assert "the topics already hold events" in again.stderr

    # The consumers start past the history: the one pending event is applied, nothing else.
    cluster.start_pipeline()
    cluster.wait_until(
        lambda: (
            cluster.sql("orders", "SELECT price FROM orders_productsnapshot WHERE product_id = 1")
            == [(Decimal("7.77"),)]
        ),
        what="the pending price change to reach orders",
    )
    assert cluster.sql("orders", "SELECT count(*) FROM events_inboxentry")[0][0] == applied + 1
    assert cluster.sql("catalog", "SELECT count(*) FROM events_outboxevent WHERE published_at IS NULL") == [
        (0,)
    ]
    # And the log still begins with the history: the read side and lag see every event.
    lag = run(cluster, "drain", "--service", "orders", "--timeout", "30")
    assert lag.returncode == 0, lag.stdout + lag.stderr
