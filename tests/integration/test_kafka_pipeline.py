"""Shape 2 for real: web, relay and one consumer per service as separate processes, on
Postgres databases and a Kafka broker."""

import pytest

from tests.integration.saga import assert_saga_invariants, boot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_orders_flow_through_kafka_to_their_final_state(cluster):
    shop = boot(cluster)
    order_ids = shop.place_orders(30, seed=1)
    shop.wait_all_final(order_ids)
    outcome = assert_saga_invariants(shop, order_ids)
    assert outcome["DELIVERED"] > 0
    assert outcome["REJECTED"] > 0


@pytest.mark.redis
def test_shipments_progress_through_a_real_celery_worker_on_redis(cluster):
    shop = boot(cluster)
    # Delivery's consumer now queues the progress steps on Redis instead of running them eagerly.
    cluster.stop("consumer-delivery")
    cluster.start_consumer("delivery", **cluster.celery_env(), DELIVERY_STEP_SECONDS="0.2")
    cluster.start_celery_worker(DELIVERY_STEP_SECONDS="0.2")
    order_ids = shop.place_orders(5, seed=11)
    shop.wait_all_final(order_ids, timeout=60)
    assert_saga_invariants(shop, order_ids)
    history = cluster.sql("delivery", "SELECT status FROM delivery_shipmentstatuschange ORDER BY id")
    assert ("IN_TRANSIT",) in history


def test_a_relay_told_to_stop_finishes_its_batch_and_exits_cleanly(cluster):
    shop = boot(cluster)
    cluster.stop("relay")
    order_ids = shop.place_orders(30, seed=12)  # a backlog waits in the outbox
    relay = cluster.start_relay(EVENTS_RELAY_BATCH_SIZE="5")
    cluster.wait_until(lambda: "is active" in relay.output(), what="the relay to start")
    assert cluster.stop("relay") == 0  # SIGTERM: the batch in flight is marked, then it exits
    cluster.start_relay()
    shop.wait_all_final(order_ids)
    assert_saga_invariants(shop, order_ids)
