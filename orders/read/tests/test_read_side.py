"""The read side (CQRS): OrderSummary built from events in orders_read, served without
touching the write database, robust to redelivery and to events arriving out of order."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.inbox.apply import Outcome, apply
from events.registry import get_handler
from orders.read.models import SUMMARY_CONTENT, OrderSummary
from orders.read.projection import projection_state
from orders.tests.helpers import API_DBS, event, placed_order, project_published, shipment_event

pytestmark = pytest.mark.django_db(databases=API_DBS)
PROJECTION = "orders_read.project_order_summary"


def project(evt):
    return apply(evt, get_handler(PROJECTION))


def summary(order_id):
    return OrderSummary.objects.get(generation=projection_state().active_generation, order_id=order_id)


def saga_events(order_id=42, customer_id=7):
    """What the saga publishes for one delivered order, in the order it happens."""
    return [
        event(
            "shop.orders.order_placed.v1",
            order_id,
            order_id=order_id,
            customer_id=customer_id,
            currency="EUR",
            total="25.00",
            shipping_address="1 Main St",
            lines=[{"product_id": 3, "sku": "MUG", "name": "Mug", "unit_price": "12.50", "quantity": 2}],
        ),
        event(
            "shop.catalog.stock_reserved.v1",
            order_id,
            order_id=order_id,
            lines=[{"product_id": 3, "quantity": 2}],
        ),
        event(
            "shop.orders.order_confirmed.v1",
            order_id,
            order_id=order_id,
            customer_id=customer_id,
            shipping_address="1 Main St",
        ),
        shipment_event("created", order_id),
        shipment_event("picked_up", order_id),
        event(
            "shop.orders.order_shipped.v1", order_id, order_id=order_id, shipment_id=7, tracking_code="TRK-7"
        ),
        shipment_event("in_transit", order_id),
        shipment_event("delivered", order_id),
        event("shop.orders.order_delivered.v1", order_id, order_id=order_id, shipment_id=7),
    ]


def comparable(s: OrderSummary) -> dict:
    return {field: getattr(s, field) for field in SUMMARY_CONTENT}


def test_a_summary_carries_lines_shipment_and_a_timeline():
    for evt in saga_events():
        assert project(evt) is Outcome.APPLIED
    s = summary(42)
    assert (s.status, s.shipment_status, s.tracking_code, s.customer_id) == (
        "DELIVERED",
        "DELIVERED",
        "TRK-7",
        7,
    )
    assert s.lines == [
        {
            "product_id": 3,
            "sku": "MUG",
            "name": "Mug",
            "unit_price": "12.50",
            "quantity": 2,
            "line_total": "25.00",
        }
    ]
    assert [entry["fact"] for entry in s.timeline][:3] == ["placed", "stock_reserved", "confirmed"]
    assert len(s.timeline) == 9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(9)))
def test_any_arrival_order_builds_the_same_summary(order):
    events = saga_events(order_id=500)
    OrderSummary.objects.filter(order_id=500).delete()
    for index in order:
        project(events[index])
    in_order = comparable(summary(500))
    OrderSummary.objects.filter(order_id=500).delete()
    from events.models import InboxEntry

    InboxEntry.objects.using("orders_read").all().delete()
    for evt in events:
        project(evt)
    assert in_order == comparable(summary(500))


def test_a_shipment_event_before_the_order_was_placed_neither_shows_nor_corrupts_the_order(
    customer, customer_api
):
    early = shipment_event("delivered", 77)
    project(early)
    assert customer_api.get("/api/orders/77/").status_code == 404  # no customer yet: invisible
    for evt in saga_events(order_id=77, customer_id=customer.id)[:3]:
        project(evt)
    s = summary(77)
    assert (s.status, s.shipment_status, s.customer_id) == ("CONFIRMED", "DELIVERED", customer.id)
    assert customer_api.get("/api/orders/77/").json()["status"] == "CONFIRMED"


def test_a_late_event_never_moves_a_summary_backwards():
    events = saga_events(order_id=9)
    for evt in events:
        project(evt)
    cancelled_late = event("shop.orders.order_placed.v1", 9, **events[0].data)  # same fact, new id
    project(cancelled_late)
    assert summary(9).status == "DELIVERED"


def test_a_redelivered_event_changes_nothing():
    placed = saga_events()[0]
    assert project(placed) is Outcome.APPLIED
    before = comparable(summary(42))
    assert project(placed) is Outcome.DUPLICATE
    assert comparable(summary(42)) == before
    assert projection_state().events_applied == 1


def test_reads_are_served_without_a_single_query_to_the_write_database(customer, customer_api):
    order = placed_order(customer.id)
    with CaptureQueriesContext(connections["orders"]) as writes:
        listed = customer_api.get("/api/orders/", {"status": "PENDING"})
        detail = customer_api.get(f"/api/orders/{order.pk}/")
    assert listed.status_code == 200
    assert detail.status_code == 200
    assert [o["id"] for o in listed.json()["results"]] == [order.pk]
    assert detail.json()["timeline"][0]["fact"] == "placed"
    assert len(writes.captured_queries) == 0, writes.captured_queries
    assert detail["X-Read-Model-As-Of"]


def test_filters_by_status_date_range_and_product(customer, customer_api):
    first = placed_order(customer.id, project=False)
    cancelled = placed_order(customer.id, cancel=True, project=False)
    project_published()
    ids = lambda **q: [o["id"] for o in customer_api.get("/api/orders/", q).json()["results"]]  # noqa: E731
    now = timezone.now()
    assert ids(status="CANCELLED") == [cancelled.pk]
    assert ids(product=1) == [cancelled.pk, first.pk]
    assert ids(product=2) == []
    assert ids(placed_after=(now - timedelta(minutes=1)).isoformat()) == [cancelled.pk, first.pk]
    assert ids(placed_before=(now - timedelta(minutes=1)).isoformat()) == []


@pytest.mark.parametrize(
    "query",
    [
        {"status": "LOST"},
        {"product": "x"},
        {"placed_after": "yesterday"},
        {"placed_after": "2026-01-02T00:00:00Z", "placed_before": "2026-01-01T00:00:00Z"},
    ],
)
def test_invalid_filters_are_a_400(customer_api, query):
    assert customer_api.get("/api/orders/", query).status_code == 400


@pytest.mark.django_db(databases=API_DBS, transaction=True)
def test_a_client_can_read_its_own_write_without_polling(customer_api, customer):
    from orders.models import ProductSnapshot

    ProductSnapshot.objects.create(product_id=1, sku="S", name="Mug", price="10.00", currency="EUR")
    placed = customer_api.post(
        "/api/orders/",
        {"lines": [{"product_id": 1, "quantity": 1}], "shipping_address": "1 Main St"},
        format="json",
    )
    token = placed["X-Consistency-Token"]
    assert customer_api.get(f"/api/orders/{placed.json()['id']}/").status_code == 404  # not projected yet

    later = threading.Timer(0.3, lambda: (project_published(), connections.close_all()))
    later.start()
    response = customer_api.get(f"/api/orders/{placed.json()['id']}/", HTTP_X_CONSISTENCY_TOKEN=token)
    later.join()
    assert response.status_code == 200
    assert response["X-Consistency"] == "applied"


def test_while_a_rebuild_runs_live_events_reach_both_generations():
    from orders.read.models import ProjectionState

    projection_state()
    ProjectionState.objects.update(building_generation=2)
    project(saga_events(order_id=5)[0])
    assert set(OrderSummary.objects.filter(order_id=5).values_list("generation", flat=True)) == {1, 2}


@pytest.mark.django_db(databases="__all__")
def test_projection_lag_is_reported_in_events_and_seconds_to_staff(
    customer, staff_api, customer_api, settings
):
    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "local"}  # lag over Kafka: tests/integration
    placed_order(customer.id, project=False)  # published, not relayed: the projection is behind
    lag = staff_api.get("/api/orders/projections/").json()["projections"][0]
    assert lag["name"] == "order_summary"
    assert lag["lag_events"] == 1
    assert lag["lag_seconds"] >= 0
    assert customer_api.get("/api/orders/projections/").status_code == 403


def test_the_projection_is_registered_by_the_app_not_by_whoever_imports_the_api():
    import os
    import subprocess
    import sys

    # A bare process (like consume_events --skip-checks) never imports the URLconf or views.
    code = (
        "import django; django.setup(); from events.registry import handlers_for; "
        "names = [h.name for h in handlers_for('shop.orders.order_placed.v1', ['orders'])]; "
        f"raise SystemExit(0 if {PROJECTION!r} in names else 1)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.test_settings"}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


@pytest.mark.django_db(databases="__all__")
def test_projection_lag_is_a_503_while_the_broker_does_not_answer(staff_api, settings, monkeypatch):
    from kafka.errors import KafkaTimeoutError

    from events.transports.kafka import consumer

    def unreachable(alias, topics):
        raise KafkaTimeoutError("Unable to bootstrap from ['10.0.0.9:9092']")

    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "kafka"}
    monkeypatch.setattr(consumer, "consumer_lag", unreachable)

    response = staff_api.get("/api/orders/projections/")

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert "10.0.0.9" not in response.content.decode()  # no internals in the answer
