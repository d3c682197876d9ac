"""Placing an order: priced from the snapshot, PENDING, announced by a schema-valid order_placed."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import services
from orders.models import Order, OrderLine, ProductSnapshot
from orders.tests.factories import ProductSnapshotFactory
from orders.tests.helpers import API_DBS, DBS, published


@pytest.mark.django_db(databases=API_DBS)
def test_customer_places_an_order_priced_from_the_snapshot(customer, customer_api):
    ProductSnapshotFactory(product_id=1, sku="MUG", name="Mug", price=Decimal("12.50"))
    ProductSnapshotFactory(product_id=2, sku="TEA", name="Tea", price=Decimal("3.99"))

    response = customer_api.post(
        "/api/orders/",
        {
            "lines": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 3}],
            "shipping_address": "  1 Main Street  ",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["customer_id"] == customer.id
    assert body["total"] == "36.97"
    assert body["currency"] == "EUR"
    assert body["shipping_address"] == "1 Main Street"
    assert [
        (line["sku"], line["unit_price"], line["quantity"], line["line_total"]) for line in body["lines"]
    ] == [
        ("MUG", "12.50", 2, "25.00"),
        ("TEA", "3.99", 3, "11.97"),
    ]
    order = Order.objects.get(pk=body["id"])
    assert (order.status, order.total, order.customer_id) == ("PENDING", Decimal("36.97"), customer.id)
    assert order.lines.count() == 2


@pytest.mark.django_db(databases=DBS)
def test_placing_an_order_publishes_order_placed_with_its_lines_and_total():
    ProductSnapshotFactory(product_id=1, sku="MUG", name="Mug", price=Decimal("12.50"), currency="USD")
    ProductSnapshotFactory(product_id=2, sku="TEA", name="Tea", price=Decimal("0.10"), currency="USD")

    order = services.place_order(
        customer_id=42,
        lines=[{"product_id": 2, "quantity": 1000}, {"product_id": 1, "quantity": 1}],
        shipping_address="1 Main Street",
    )

    # published() validates each event against events/schemas/ as well.
    assert published("shop.orders.order_placed.v1") == [
        {
            "order_id": order.pk,
            "customer_id": 42,
            "currency": "USD",
            "total": "112.50",
            "shipping_address": "1 Main Street",
            "lines": [
                {"product_id": 2, "sku": "TEA", "name": "Tea", "unit_price": "0.10", "quantity": 1000},
                {"product_id": 1, "sku": "MUG", "name": "Mug", "unit_price": "12.50", "quantity": 1},
            ],
        }
    ]
    assert len(published()) == 1


@pytest.mark.django_db(databases=API_DBS)
def test_customer_and_prices_come_from_the_server_never_from_the_body(customer, other_customer, customer_api):
    ProductSnapshotFactory(product_id=1, price=Decimal("12.50"))

    response = customer_api.post(
        "/api/orders/",
        {
            "customer_id": other_customer.id,
            "total": "0.01",
            "status": "DELIVERED",
            "lines": [{"product_id": 1, "quantity": 1, "unit_price": "0.01"}],
            "shipping_address": "1 Main Street",
        },
        format="json",
    )

    assert response.status_code == 201
    order = Order.objects.get(pk=response.json()["id"])
    assert (order.customer_id, order.status, order.total) == (customer.id, "PENDING", Decimal("12.50"))
    assert order.lines.get().unit_price == Decimal("12.50")


@pytest.mark.django_db(databases=DBS)
def test_free_products_make_a_zero_total_order():
    ProductSnapshotFactory(product_id=1, price=Decimal("0.00"))

    order = services.place_order(
        customer_id=1, lines=[{"product_id": 1, "quantity": 3}], shipping_address="x"
    )

    assert order.total == Decimal("0.00")
    assert published("shop.orders.order_placed.v1")[0]["total"] == "0.00"


prices = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("99999.99"), places=2)


@pytest.mark.django_db(databases=DBS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(prices, st.integers(min_value=1, max_value=1000)), min_size=1, max_size=50))
def test_total_is_the_exact_sum_of_unit_price_times_quantity(lines):
    for product_id, (price, _) in enumerate(lines, start=1):
        ProductSnapshot.objects.update_or_create(
            product_id=product_id,
            defaults={
                "sku": f"P{product_id}",
                "name": "p",
                "price": price,
                "currency": "EUR",
                "active": True,
            },
        )

    order = services.place_order(
        customer_id=1,
        lines=[{"product_id": i, "quantity": qty} for i, (_, qty) in enumerate(lines, start=1)],
        shipping_address="x",
    )

    expected = sum((price * qty for price, qty in lines), Decimal("0"))
    order.refresh_from_db()
    assert order.total == expected
    assert order.total == sum(
        line.unit_price * line.quantity for line in OrderLine.objects.filter(order=order)
    )
    event = next(e for e in published("shop.orders.order_placed.v1") if e["order_id"] == order.pk)
    assert Decimal(event["total"]) == expected
    assert sum(Decimal(line["unit_price"]) * line["quantity"] for line in event["lines"]) == expected
