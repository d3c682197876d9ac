"""Shape 2 traced for real: web, relay, one consumer per service and a Celery worker as separate
processes on Postgres, Kafka and Redis, every one exporting OTLP to the real trace backend
(devtools/tracing.py: the OpenTelemetry Collector in front of Zipkin). One order is one trace,
read back from Zipkin's API. (Shape 3, and a relay killed mid-trace: tests/split.)"""

import uuid

import pytest

from devtools.http import free_port
from devtools.tracing import TraceBackend
from tests.integration import traces
from tests.integration.saga import boot

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def backend(tmp_path, monkeypatch):
    """The trace backend, and every process the cluster starts pointed at it (base_env passes
    this process's environment on)."""
    trace_backend = TraceBackend(tmp_path / "trace", ui_port=free_port(), otlp_port=free_port())
    trace_backend.start()
    for key, value in trace_backend.service_env(1.0).items():
        monkeypatch.setenv(key, value)
    try:
        yield trace_backend
    finally:
        trace_backend.stop()


def test_one_order_is_one_trace_in_the_modular_monolith(cluster, backend):
    shop = boot(cluster)
    # Shipment steps through a real Celery worker on Redis, as in production.
    cluster.stop("consumer-delivery")
    cluster.start_consumer("delivery", **cluster.celery_env(), DELIVERY_STEP_SECONDS="0.2")
    cluster.start_celery_worker(DELIVERY_STEP_SECONDS="0.2")
    backend.wait_ready()
    product_id = next(p for p, stock in sorted(shop.initial_stock.items()) if stock >= 5)
    request_id = f"shape2-{uuid.uuid4().hex}"
    status, head, order = shop.customers[0].request_with_headers(
        "POST",
        "/api/orders/",
        {"lines": [{"product_id": product_id, "quantity": 1}], "shipping_address": "2 Dock Rd, Hull"},
        headers={"X-Request-ID": request_id},
    )
    assert status == 201, order
    assert head["X-Request-ID"] == request_id
    shop.customers[0].wait_for(
        f"/api/orders/{order['id']}/", lambda o: o["status"] == "DELIVERED", timeout=90
    )

    spans = traces.order_trace(backend, request_id)
    traces.assert_one_trace_per_order(
        spans,
        request_id,
        root_process="web",
        processes={"relay", "consumer-catalog", "consumer-orders", "consumer-delivery", "celery"},
    )
