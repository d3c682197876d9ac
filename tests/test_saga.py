"""The order saga across catalog, orders and delivery, through the HTTP API and the events.

`drain()` relays every outbox through the in-process transport until nothing is left: exactly
what the monolith's relay thread does after each commit. Celery runs eagerly in tests, so a
shipment moves to DELIVERED as soon as it is created.
"""

import threading

import pytest
from django.db import connections

from events.models import DeadLetter, OutboxEvent
from tests.factories import create_product, money, place_order, stock_of

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def order_of(api, order_id):
    response = api.get(f"/api/orders/{order_id}/")
    assert response.status_code == 200
    return response.data


def shipments_for(order_id):
    from delivery.models import Shipment

    return list(Shipment.objects.filter(order_id=order_id))


def event_types(alias, topic, key):
    rows = OutboxEvent.objects.using(alias).filter(topic=topic, key=str(key)).order_by("id")
    return list(rows.values_list("type", flat=True))


def test_an_order_flows_from_placed_to_delivered_with_exactly_one_shipment(staff_api, customer_api, drain):
    mug = create_product(staff_api, sku="MUG", price="12.50", stock=5)
    tee = create_product(staff_api, sku="TEE", price="20.00", stock=3)
    drain()

    placed = place_order(customer_api, [(mug, 2), (tee, 1)])
    assert placed.status_code == 201, placed.data
    assert placed.data["status"] == "PENDING"
    assert money(placed.data["total"]) == money("45.00")
    drain()

    order = order_of(customer_api, placed.data["id"])
    assert order["status"] == "DELIVERED"
    assert (stock_of(mug), stock_of(tee)) == (3, 2)
    [shipment] = shipments_for(order["id"])
    assert shipment.status == "DELIVERED"
    assert [h.status for h in shipment.history.order_by("id")] == [
        "CREATED",
        "PICKED_UP",
        "IN_TRANSIT",
        "DELIVERED",
    ]
    assert event_types("orders", "shop.orders.order", order["id"]) == [
        "shop.orders.order_placed.v1",
        "shop.orders.order_confirmed.v1",
        "shop.orders.order_shipped.v1",
        "shop.orders.order_delivered.v1",
    ]
    assert event_types("catalog", "shop.catalog.reservation", order["id"]) == [
        "shop.catalog.stock_reserved.v1"
    ]
    assert not any(DeadLetter.objects.using(a).exists() for a in ("catalog", "orders", "delivery"))


def test_a_rejected_order_reserves_nothing_and_ships_nothing(staff_api, customer_api, drain):
    plenty = create_product(staff_api, sku="PLENTY", stock=100)
    scarce = create_product(staff_api, sku="SCARCE", stock=1)
    drain()

    placed = place_order(customer_api, [(plenty, 5), (scarce, 2)])
    assert placed.status_code == 201
    drain()

    order = order_of(customer_api, placed.data["id"])
    assert order["status"] == "REJECTED"
    assert "SCARCE" in order["status_reason"]
    assert (stock_of(plenty), stock_of(scarce)) == (100, 1)
    assert shipments_for(order["id"]) == []


def test_cancelling_a_confirmed_order_releases_its_stock_and_cancels_its_shipment(
    settings, staff_api, customer_api, drain
):
    # Stop the shipment at CREATED: progress tasks are what move it; here they are not run.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://"
    mug = create_product(staff_api, sku="MUG2", stock=4)
    drain()
    placed = place_order(customer_api, [(mug, 3)])
    drain()
    assert order_of(customer_api, placed.data["id"])["status"] == "CONFIRMED"
    assert stock_of(mug) == 1
    [shipment] = shipments_for(placed.data["id"])
    assert shipment.status == "CREATED"

    cancelled = customer_api.post(f"/api/orders/{placed.data['id']}/cancel/", {}, format="json")
    assert cancelled.status_code == 200
    assert cancelled.data["status"] == "CANCELLED"
    drain()

    assert stock_of(mug) == 4
    shipment.refresh_from_db()
    assert shipment.status == "CANCELLED"
    assert event_types("catalog", "shop.catalog.reservation", placed.data["id"]) == [
        "shop.catalog.stock_reserved.v1",
        "shop.catalog.stock_released.v1",
    ]
    # compensation ran once: a second cancel is refused and releases nothing more
    assert customer_api.post(f"/api/orders/{placed.data['id']}/cancel/", {}, format="json").status_code == 409
    drain()
    assert stock_of(mug) == 4


def test_a_delivered_order_cannot_be_cancelled(staff_api, customer_api, drain):
    mug = create_product(staff_api, sku="MUG3", stock=4)
    drain()
    placed = place_order(customer_api, [(mug, 1)])
    drain()
    response = customer_api.post(f"/api/orders/{placed.data['id']}/cancel/", {}, format="json")
    assert response.status_code == 409
    assert "deliver" in response.data["detail"].lower()
    assert order_of(customer_api, placed.data["id"])["status"] == "DELIVERED"


def test_a_race_for_the_last_units_cannot_oversell(staff_api, drain, django_user_model, client_for):
    last = create_product(staff_api, sku="LAST", stock=5)
    drain()
    buyers = [
        client_for(django_user_model.objects.create_user(username=f"racer{i}", password="x-very-long-1"))
        for i in range(8)
    ]
    results = []

    def buy(api):
        try:
            results.append(place_order(api, [(last, 2)]).data["id"])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=buy, args=(api,)) for api in buyers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8

    # Reservations race too: several relays drain concurrently.
    relays = [threading.Thread(target=lambda: (drain(), connections.close_all())) for _ in range(3)]
    for t in relays:
        t.start()
    for t in relays:
        t.join()
    drain()

    from orders.models import Order

    statuses = list(Order.objects.filter(id__in=results).values_list("status", flat=True))
    delivered = statuses.count("DELIVERED")
    assert delivered == 2  # 2 x 2 units fit in 5; the third would need 6
    assert statuses.count("REJECTED") == 6
    assert stock_of(last) == 1
