"""Shape 2 for real: web, relay and one consumer per service as separate processes, on
Postgres databases and a Kafka broker."""

import pytest

from tests.integration.saga import FINAL, assert_saga_invariants, boot

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


def read_side(cluster, generation):
    return cluster.sql(
        "orders_read",
        "SELECT order_id, customer_id, status, status_reason, total, lines::text, shipment_id,"
        " shipment_status, tracking_code, facts::text, timeline::text, placed_at FROM orders_ordersummary"
        " WHERE generation = %s ORDER BY order_id",
        (generation,),
    )


def test_the_read_side_rebuilt_from_the_kafka_topics_equals_the_incremental_one(cluster):
    shop = boot(cluster)
    order_ids = shop.place_orders(20, seed=13)
    shop.wait_all_final(order_ids)
    # The read side catches up too (it consumes in the orders service's group).
    cluster.wait_until(
        lambda: (
            {s for (s,) in cluster.sql("orders_read", "SELECT status FROM orders_ordersummary")} <= FINAL
            and len(cluster.sql("orders_read", "SELECT 1 FROM orders_ordersummary")) == len(order_ids)
        ),
        what="the read side to reflect every order",
    )
    [(generation,)] = cluster.sql("orders_read", "SELECT active_generation FROM orders_projectionstate")
    incremental = read_side(cluster, generation)

    out = cluster.manage("rebuild_projections").stdout
    assert "100%" in out

    [(rebuilt,)] = cluster.sql("orders_read", "SELECT active_generation FROM orders_projectionstate")
    assert rebuilt == generation + 1
    assert read_side(cluster, rebuilt) == incremental

    # Read-your-writes over Kafka: the token of a write is honoured by the next read.
    customer = shop.customers[0]
    product = next(iter(shop.initial_stock))
    status, headers, order = customer.request_with_headers(
        "POST",
        "/api/orders/",
        {"lines": [{"product_id": product, "quantity": 1}], "shipping_address": "1 Main St"},
    )
    assert status == 201
    token = headers["X-Consistency-Token"]
    status, headers, seen = customer.request_with_headers(
        "GET", f"/api/orders/{order['id']}/", headers={"X-Consistency-Token": token}
    )
    assert status == 200
    assert headers["X-Consistency"] == "applied"
    assert seen["id"] == order["id"]

    def lag():
        status, body = shop.staff.get("/api/orders/projections/")
        assert status == 200, body
        return body["projections"][0]

    cluster.wait_until(lambda: lag()["lag_events"] == 0, what="the projection to have no lag")
    # Orders' consumer (which runs the projection) stops: the lag grows, in events and seconds.
    cluster.stop("consumer-orders")
    shop.place_orders(3, seed=14)
    cluster.wait_until(lambda: lag()["lag_events"] >= 3, what="the lag to show")
    assert lag()["lag_seconds"] > 0
    cluster.start_consumer("orders")
    cluster.wait_until(lambda: lag()["lag_events"] == 0, what="the projection to catch up")
