"""Who sees which orders: a customer their own, staff all; someone else's order is a 404."""

import pytest

from orders.models import Order
from orders.tests.factories import OrderFactory, ProductSnapshotFactory
from orders.tests.helpers import API_DBS, outbox_count, placed_order, project_published

pytestmark = pytest.mark.django_db(databases=API_DBS)

BODY = {"lines": [{"product_id": 1, "quantity": 1}], "shipping_address": "1 Main Street"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/orders/"),
        ("post", "/api/orders/"),
        ("get", "/api/orders/1/"),
        ("post", "/api/orders/1/cancel/"),
    ],
)
def test_no_token_is_a_401(anon_api, method, path):
    OrderFactory(pk=1)

    response = getattr(anon_api, method)(path, BODY, format="json")

    assert response.status_code == 401
    assert Order.objects.get(pk=1).status == "PENDING"


@pytest.mark.parametrize("token", ["not-a-jwt", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"])
def test_invalid_token_is_a_401_and_places_nothing(anon_api, token):
    ProductSnapshotFactory(product_id=1)
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert anon_api.get("/api/orders/").status_code == 401
    assert anon_api.post("/api/orders/", BODY, format="json").status_code == 401
    assert Order.objects.count() == 0
    assert outbox_count() == 0


def test_customer_lists_only_their_own_orders_newest_first(customer, other_customer, customer_api):
    older = placed_order(customer.id, project=False)
    newer = placed_order(customer.id, project=False)
    placed_order(other_customer.id)

    response = customer_api.get("/api/orders/")

    assert response.status_code == 200
    body = response.json()
    assert [o["id"] for o in body["results"]] == [newer.pk, older.pk]
    assert body["results"][0]["lines"][0]["quantity"] == 1


def test_staff_lists_every_order(customer, other_customer, staff_api):
    mine, theirs = placed_order(customer.id), placed_order(other_customer.id)

    response = staff_api.get("/api/orders/")

    assert {o["id"] for o in response.json()["results"]} == {mine.pk, theirs.pk}


def test_list_filters_by_status(customer, customer_api):
    pending = placed_order(customer.id)
    placed_order(customer.id, cancel=True)

    response = customer_api.get("/api/orders/", {"status": "PENDING"})

    assert [o["id"] for o in response.json()["results"]] == [pending.pk]


def test_filtering_by_an_unknown_status_is_a_400(customer_api):
    response = customer_api.get("/api/orders/", {"status": "LOST"})

    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_list_is_paginated_by_cursor(customer, customer_api):
    for _ in range(21):
        placed_order(customer.id, project=False)
    project_published()

    first = customer_api.get("/api/orders/").json()
    second = customer_api.get(first["next"]).json()

    assert (len(first["results"]), len(second["results"])) == (20, 1)
    assert second["next"] is None
    assert {o["id"] for o in first["results"]}.isdisjoint(o["id"] for o in second["results"])


def test_customer_sees_their_order(customer, customer_api):
    order = placed_order(customer.id)

    response = customer_api.get(f"/api/orders/{order.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == order.pk
    assert response.json()["total"] == "10.00"


def test_another_customers_order_is_a_404(other_customer, customer_api):
    theirs = placed_order(other_customer.id)

    assert customer_api.get(f"/api/orders/{theirs.pk}/").status_code == 404
    assert customer_api.get("/api/orders/999999/").status_code == 404


def test_staff_sees_any_order(customer, staff_api):
    order = placed_order(customer.id)

    assert staff_api.get(f"/api/orders/{order.pk}/").json()["customer_id"] == customer.id


@pytest.mark.parametrize("pk", ["abc", "-1", "1.5", "99999999999999999999999"])
def test_a_malformed_or_huge_order_id_is_a_404(customer_api, pk):
    assert customer_api.get(f"/api/orders/{pk}/").status_code == 404
    assert customer_api.post(f"/api/orders/{pk}/cancel/").status_code == 404


def test_a_customer_id_is_taken_from_the_token_of_each_request(customer, other_customer, client_for):
    ProductSnapshotFactory(product_id=1)

    placed = client_for(other_customer).post("/api/orders/", BODY, format="json").json()

    assert placed["customer_id"] == other_customer.id
    assert client_for(customer).get(f"/api/orders/{placed['id']}/").status_code == 404
