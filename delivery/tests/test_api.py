"""/api/delivery/shipments/: customers see their own shipments, staff see and advance all."""

from __future__ import annotations

import pytest

from delivery.models import Shipment, ShipmentStatus
from delivery.tests.factories import ShipmentFactory

S = ShipmentStatus
URL = "/api/delivery/shipments/"
pytestmark = pytest.mark.django_db(databases=["default", "delivery"])


def detail(shipment: Shipment) -> str:
    return f"{URL}{shipment.id}/"


def advance(shipment: Shipment) -> str:
    return f"{URL}{shipment.id}/advance/"


def test_customer_lists_only_their_own_shipments(customer, other_customer, customer_api):
    mine = ShipmentFactory.create_batch(2, customer_id=customer.id)
    ShipmentFactory(customer_id=other_customer.id)

    response = customer_api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {r["id"] for r in body["results"]} == {s.id for s in mine}
    assert {"next", "previous"} <= body.keys()
    assert "history" not in body["results"][0]


def test_staff_lists_every_shipment(customer, other_customer, staff_api):
    ShipmentFactory(customer_id=customer.id)
    ShipmentFactory(customer_id=other_customer.id)

    assert staff_api.get(URL).json()["count"] == 2


def test_list_is_paginated(customer, customer_api):
    ShipmentFactory.create_batch(21, customer_id=customer.id)

    body = customer_api.get(URL).json()

    assert body["count"] == 21
    assert len(body["results"]) == 20
    assert body["next"] is not None


def test_list_filters_by_status_and_order(customer, customer_api):
    created = ShipmentFactory(customer_id=customer.id)
    delivered = ShipmentFactory(customer_id=customer.id, status=S.DELIVERED)

    by_status = customer_api.get(URL, {"status": "DELIVERED"}).json()
    by_order = customer_api.get(URL, {"order_id": created.order_id}).json()

    assert [r["id"] for r in by_status["results"]] == [delivered.id]
    assert [r["id"] for r in by_order["results"]] == [created.id]


def test_filtering_by_an_unknown_status_is_a_400(customer_api):
    response = customer_api.get(URL, {"status": "LOST"})

    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_anonymous_cannot_list(anon_api):
    assert anon_api.get(URL).status_code == 401


def test_customer_sees_their_shipment_with_its_history(customer, customer_api):
    shipment = ShipmentFactory(customer_id=customer.id, status=S.IN_TRANSIT)

    response = customer_api.get(detail(shipment))

    assert response.status_code == 200
    body = response.json()
    assert body["tracking_code"] == shipment.tracking_code
    assert body["status"] == "IN_TRANSIT"
    assert [h["status"] for h in body["history"]] == ["CREATED", "PICKED_UP", "IN_TRANSIT"]


def test_another_customers_shipment_does_not_exist(other_customer, customer_api):
    shipment = ShipmentFactory(customer_id=other_customer.id)

    assert customer_api.get(detail(shipment)).status_code == 404


def test_staff_sees_any_shipment(customer, staff_api):
    shipment = ShipmentFactory(customer_id=customer.id)

    assert staff_api.get(detail(shipment)).status_code == 200


def test_staff_advances_a_shipment_to_the_status_given(staff_api, events_published):
    shipment = ShipmentFactory()

    response = staff_api.post(advance(shipment), {"status": "PICKED_UP"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "PICKED_UP"
    assert [h["status"] for h in response.json()["history"]] == ["CREATED", "PICKED_UP"]
    shipment.refresh_from_db()
    assert shipment.status == S.PICKED_UP
    assert [t for t, _ in events_published()] == ["shipment_picked_up"]


def test_staff_advance_without_a_status_takes_the_next_step(staff_api):
    shipment = ShipmentFactory(status=S.PICKED_UP)

    response = staff_api.post(advance(shipment), {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "IN_TRANSIT"


def test_customer_cannot_advance_even_their_own_shipment(customer, customer_api, events_published):
    shipment = ShipmentFactory(customer_id=customer.id)

    response = customer_api.post(advance(shipment), {"status": "PICKED_UP"}, format="json")

    assert response.status_code == 403
    shipment.refresh_from_db()
    assert shipment.status == S.CREATED
    assert events_published() == []


def test_anonymous_cannot_advance(anon_api):
    shipment = ShipmentFactory()

    assert anon_api.post(advance(shipment), {}, format="json").status_code == 401
    shipment.refresh_from_db()
    assert shipment.status == S.CREATED


@pytest.mark.parametrize(
    ("current", "body"),
    [
        (S.CREATED, {"status": "IN_TRANSIT"}),  # skipping a step
        (S.IN_TRANSIT, {"status": "PICKED_UP"}),  # going back
        (S.PICKED_UP, {"status": "PICKED_UP"}),  # already there
        (S.DELIVERED, {}),  # final
        (S.CANCELLED, {"status": "PICKED_UP"}),  # cancelled before pickup
    ],
)
def test_illegal_transition_is_a_409_with_the_reason(current, body, staff_api, events_published):
    shipment = ShipmentFactory(status=current)
    history_before = shipment.history.count()

    response = staff_api.post(advance(shipment), body, format="json")

    assert response.status_code == 409
    assert current in response.json()["detail"]
    shipment.refresh_from_db()
    assert shipment.status == current
    assert shipment.history.count() == history_before
    assert events_published() == []


@pytest.mark.parametrize("status", ["FLYING", "CREATED", "CANCELLED", "", None, 3])
def test_invalid_status_is_a_400_and_writes_nothing(status, staff_api, events_published):
    shipment = ShipmentFactory()

    response = staff_api.post(advance(shipment), {"status": status}, format="json")

    assert response.status_code == 400
    assert "status" in response.json()["errors"]
    shipment.refresh_from_db()
    assert shipment.status == S.CREATED
    assert shipment.history.count() == 1
    assert events_published() == []


def test_a_body_that_is_not_an_object_is_a_400(staff_api):
    shipment = ShipmentFactory()

    assert staff_api.post(advance(shipment), ["PICKED_UP"], format="json").status_code == 400


def test_advancing_a_missing_shipment_is_a_404(staff_api):
    assert staff_api.post(f"{URL}999999/advance/", {}, format="json").status_code == 404
