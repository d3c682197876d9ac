"""Processes die, the broker goes away, messages are poison: nothing is lost and no effect
happens twice. Each test ends with the saga invariants (tests/integration/saga.py).

Crashes are placed exactly in the dangerous windows with EVENTS_FAULT (events/faults.py): the
process exits like a SIGKILL at that point, with no cleanup.
"""

from __future__ import annotations

import time
import uuid

import pytest

from devtools.cluster import LocalCluster
from devtools.instances import KafkaBroker
from tests.integration.saga import assert_saga_invariants, boot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
KILLED = 137


def pending(cluster, alias="orders") -> int:
    return cluster.sql(alias, "SELECT count(*) FROM events_outboxevent WHERE published_at IS NULL")[0][0]


def test_relay_killed_after_sending_but_before_marking_loses_and_doubles_nothing(cluster):
    shop = boot(cluster)
    cluster.stop("relay")
    # Dies right after Kafka acknowledged its 3rd batch, before marking it published: on
    # restart that batch is sent again, and the consumers' inboxes must absorb the repeat.
    relay = cluster.start_relay(EVENTS_FAULT="relay.sent_before_marked:3", EVENTS_RELAY_BATCH_SIZE="10")
    order_ids = shop.place_orders(40, seed=2)
    cluster.wait_until(lambda: not relay.alive(), what="the relay to hit its crash point")
    assert relay.popen.returncode == KILLED
    assert pending(cluster, "catalog") + pending(cluster, "orders") > 0, (
        "nothing left unmarked: the crash proved nothing"
    )

    cluster.procs.pop("relay")
    cluster.start_relay()  # the restart
    shop.wait_all_final(order_ids)
    assert_saga_invariants(shop, order_ids)


def test_consumer_killed_between_its_commit_and_its_offset_commit_applies_once(cluster):
    shop = boot(cluster)
    cluster.stop("consumer-catalog")
    # Dies at its 3rd poll that brought records, after their database commit and before their
    # offsets. Orders come in rounds a second apart until then: a fast consumer drains one burst
    # of orders in fewer polls than it has orders, so a single burst may never reach the point.
    victim = cluster.start_consumer("catalog", EVENTS_FAULT="consumer.applied_before_offset_commit:3")
    order_ids: list[int] = []

    def another_round_until_it_dies() -> bool:
        if victim.alive():
            order_ids.extend(shop.place_orders(4, seed=3 + len(order_ids)))
        return not victim.alive()

    cluster.wait_until(
        another_round_until_it_dies, interval=1, what="the catalog consumer to hit its crash point"
    )
    assert victim.popen.returncode == KILLED

    cluster.procs.pop("consumer-catalog")
    cluster.start_consumer("catalog")
    shop.wait_all_final(order_ids)
    assert_saga_invariants(shop, order_ids)
    duplicates = cluster.sql(
        "catalog", "SELECT sum(1) FROM events_inboxentry GROUP BY event_id, handler HAVING count(*) > 1"
    )
    assert duplicates == []


def test_two_relays_on_one_database_only_one_sends_and_the_other_takes_over(cluster):
    shop = boot(cluster)
    cluster.stop("relay")
    first = cluster.start_relay("relay-a")
    cluster.wait_until(
        lambda: "relay for orders is active" in first.output(), what="relay-a to become active"
    )
    second = cluster.start_relay("relay-b")
    order_ids = shop.place_orders(15, seed=4)
    shop.wait_all_final(order_ids)
    assert "is active" not in second.output(), "both relays were active at once"

    cluster.signal("relay-a")  # SIGKILL: the advisory lock goes with its connection
    cluster.wait_until(
        lambda: "relay for orders is active" in second.output(), timeout=30, what="relay-b to take over"
    )
    more = shop.place_orders(15, seed=5)
    shop.wait_all_final(order_ids + more)
    assert_saga_invariants(shop, order_ids + more)


def test_a_poison_message_is_dead_lettered_and_the_partition_moves_on(cluster):
    from kafka import KafkaConsumer, KafkaProducer

    shop = boot(cluster)
    ns = f"{cluster.name}."
    producer = KafkaProducer(bootstrap_servers=cluster.kafka)
    headers = [
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"/shop/orders"),
        ("ce_type", b"shop.orders.order_placed.v1"),
        ("ce_specversion", b"1.0"),
        ("ce_subject", b"1"),
    ]
    # Every partition gets one record that breaks the schema and one that is not an event at all.
    for partition in range(3):
        producer.send(
            ns + "shop.orders.order",
            key=b"1",
            value=b'{"order_id": "one"}',
            partition=partition,
            headers=[(k, v if k != "ce_id" else str(uuid.uuid4()).encode()) for k, v in headers],
        ).get(10)
        producer.send(ns + "shop.orders.order", key=b"x", value=b"\x00garbage", partition=partition).get(10)
    producer.close()

    order_ids = shop.place_orders(12, seed=6)
    shop.wait_all_final(order_ids)
    parked = cluster.sql("catalog", "SELECT handler, error FROM events_deadletter")
    assert len(parked) == 3
    assert all(h == "catalog.on_order_placed" and "order_id" in e for h, e in parked)

    consumer = KafkaConsumer(
        ns + "shop.deadletter.catalog",
        bootstrap_servers=cluster.kafka,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    dead = [dict(r.headers) for r in consumer]
    consumer.close()
    assert len(dead) >= 6  # 3 invalid + 3 unreadable, original headers kept
    assert all("dlt_error" in h for h in dead)
    assert sum("ce_type" in h for h in dead) >= 3
    assert_saga_invariants(shop, order_ids, dead_letters_allowed=3)


def test_a_handler_that_always_fails_parks_its_events_and_a_replay_after_the_fix_applies_once(cluster):
    shop = boot(cluster)
    cluster.stop("consumer-orders")
    cluster.start_consumer("orders", EVENTS_FAIL_HANDLER="orders.on_stock_reserved")
    order_ids = shop.place_orders(6, seed=7)

    def parked_count():
        return cluster.sql("orders", "SELECT count(*) FROM events_deadletter WHERE status = 'parked'")[0][0]

    def every_reservation_parked():
        reserved = cluster.sql("catalog", "SELECT count(*) FROM catalog_stockreservation")[0][0]
        placed = cluster.sql(
            "catalog", "SELECT count(*) FROM events_inboxentry WHERE handler = 'catalog.on_order_placed'"
        )
        return placed[0][0] == len(order_ids) and reserved and parked_count() == reserved

    cluster.wait_until(every_reservation_parked, what="every stock_reserved event to be parked")
    parked = parked_count()
    statuses = {s for (s,) in cluster.sql("orders", "SELECT status FROM orders_order")}
    assert "CONFIRMED" not in statuses
    assert "DELIVERED" not in statuses

    # "Deploy the fix": restart the consumer without the failure, then replay the parked events.
    cluster.stop("consumer-orders")
    cluster.start_consumer("orders")
    first = cluster.manage("replay_dead_letters", "--database", "orders")
    assert first.stdout.count("applied") == parked
    again = cluster.manage("replay_dead_letters", "--database", "orders")
    assert "applied" not in again.stdout
    shop.wait_all_final(order_ids)
    assert_saga_invariants(shop, order_ids)
    confirmed = cluster.sql(
        "orders", "SELECT count(*) FROM events_outboxevent WHERE type = 'shop.orders.order_confirmed.v1'"
    )
    assert confirmed[0][0] == parked


@pytest.fixture
def own_broker(services):
    """A broker of its own that this test may stop and start without disturbing the others (free
    ports: stopping a broker this test did not start would prove nothing)."""
    with KafkaBroker() as broker:
        yield broker.start()


def test_while_the_broker_is_down_orders_are_taken_and_afterwards_every_one_completes(own_broker, tmp_path):
    cluster = LocalCluster(tmp_path / "cluster", kafka=own_broker.bootstrap)
    (tmp_path / "cluster").mkdir()
    cluster.create()
    try:
        shop = boot(cluster)
        before = shop.place_orders(10, seed=8)
        shop.wait_all_final(before)

        own_broker.stop()
        during = shop.place_orders(15, seed=9)  # the API keeps working: events wait in the outbox
        cluster.wait_until(lambda: pending(cluster) >= 15, what="the outbox to hold the new orders' events")
        # Still ready (its writes go to the outbox): no reason to take the web out of rotation.
        status, body = shop.api.get("/readyz")
        assert status == 200, body
        status, body = shop.api.get("/readyz?full")
        assert status == 200, body
        assert body["dependencies"]["broker"] == "error: unreachable"

        own_broker.start()
        shop.wait_all_final(before + during, timeout=180)
        assert_saga_invariants(shop, before + during)
        assert pending(cluster) == 0
    finally:
        cluster.destroy()


def test_a_send_to_a_frozen_broker_gives_up_within_its_timeout_and_the_next_one_works(own_broker):
    # SIGSTOP: the broker keeps its sockets open and answers nothing. kafka-python's flush()
    # waits its timeout for each batch in turn, which held a relay 65 s in a 30 s send.
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError

    from events.envelope import Event
    from events.transports import Message
    from events.transports.kafka import kafka_name
    from events.transports.kafka.producer import SEND_TIMEOUT_SECONDS, KafkaTransport

    topic = f"test.frozen.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=own_broker.bootstrap)
    admin.create_topics([NewTopic(kafka_name(topic), num_partitions=6, replication_factor=1)])
    admin.close()
    messages = [
        Message.of(topic, Event(type="shop.orders.order_rejected.v1", source="/shop/orders", subject=str(n),
                                data={"order_id": n, "reason": "x"}))
        for n in range(60)  # one batch per partition: six waits for flush(), one deadline here
    ]  # fmt: skip
    transport = KafkaTransport([own_broker.bootstrap])
    try:
        transport.send(messages)  # connected, metadata known: what a running relay has
        own_broker.freeze()
        blocked = []
        try:
            # The first try on the connected producer, the second on the new one the relay makes
            # after a failure (connecting to a broker that accepts and never answers).
            for _ in range(2):
                started = time.monotonic()
                with pytest.raises(KafkaError):
                    transport.send(messages)
                blocked.append(time.monotonic() - started)
        finally:
            own_broker.thaw()
        print(f"\nsends to a frozen broker gave up after {blocked} s (timeout {SEND_TIMEOUT_SECONDS} s)")
        assert max(blocked) < SEND_TIMEOUT_SECONDS + 2
        transport.send(messages)  # the broker answers again: so does the relay's next send
    finally:
        transport.close()
