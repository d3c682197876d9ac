"""One shape for an order: placing and cancelling answer as a read does (from the write side,
with what it cannot know yet empty), so a client parses orders one way."""

import pytest

from orders.tests.helpers import API_DBS, project_published

pytestmark = pytest.mark.django_db(databases=API_DBS)

BODY = {"lines": [{"product_id": 1, "quantity": 2}], "shipping_address": "1 Main St"}
# What only the read side learns (from other services' events, or the events' own times).
READ_SIDE_ONLY = {"shipment_id", "shipment_status", "tracking_code", "timeline", "created_at", "updated_at"}


@pytest.fixture
def mug():
    from orders.models import ProductSnapshot

    return ProductSnapshot.objects.create(product_id=1, sku="MUG", name="Mug", price="10.00", currency="EUR")


def test_placing_an_order_answers_in_the_shape_of_a_read(customer_api, mug):
    placed = customer_api.post("/api/orders/", BODY, format="json")
    project_published()
    read = customer_api.get(f"/api/orders/{placed.json()['id']}/")

    assert placed.status_code == 201
    assert read.status_code == 200
    assert list(placed.json()) == list(read.json())
    known_at_once = read.json().keys() - READ_SIDE_ONLY
    assert {k: placed.json()[k] for k in known_at_once} == {k: read.json()[k] for k in known_at_once}
    assert placed.json()["lines"] == [
        {
            "product_id": 1,
            "sku": "MUG",
            "name": "Mug",
            "unit_price": "10.00",
            "quantity": 2,
            "line_total": "20.00",
        }
    ]
    # Not known to the write side yet: empty, not missing.
    assert (placed.json()["shipment_status"], placed.json()["tracking_code"]) == (None, None)
    assert placed.json()["timeline"] == []
    assert [entry["fact"] for entry in read.json()["timeline"]] == ["placed"]


def test_cancelling_answers_in_the_shape_of_a_read(customer_api, mug):
    placed = customer_api.post("/api/orders/", BODY, format="json").json()
    project_published()

    cancelled = customer_api.post(f"/api/orders/{placed['id']}/cancel/", {}, format="json")
    project_published()
    read = customer_api.get(f"/api/orders/{placed['id']}/")

    assert cancelled.status_code == 200
    assert list(cancelled.json()) == list(read.json())
    assert cancelled.json()["status"] == read.json()["status"] == "CANCELLED"
    assert cancelled.json()["status_reason"] == read.json()["status_reason"] == "cancelled by the customer"


def test_a_read_without_a_shipment_shows_it_as_null(customer_api, mug):
    placed = customer_api.post("/api/orders/", BODY, format="json").json()
    project_published()

    read = customer_api.get(f"/api/orders/{placed['id']}/").json()

    assert (read["shipment_id"], read["shipment_status"], read["tracking_code"]) == (None, None, None)
