"""Bad input to POST /api/orders/ is a 400 with field-level messages, and nothing is written:
no order, no line, no event."""

from decimal import Decimal

import pytest

from orders import services
from orders.models import Order, OrderLine
from orders.tests.factories import ProductSnapshotFactory
from orders.tests.helpers import API_DBS, DBS, outbox_count

ADDRESS = "1 Main Street"


def line(product_id=1, quantity=1):
    return {"product_id": product_id, "quantity": quantity}


@pytest.fixture
def catalog():
    """Products 1-60 on sale in EUR, 61 withdrawn, 62 sold in USD."""
    for product_id in range(1, 61):
        ProductSnapshotFactory(product_id=product_id)
    ProductSnapshotFactory(product_id=61, active=False)
    ProductSnapshotFactory(product_id=62, currency="USD")


def assert_nothing_written():
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert outbox_count() == 0


def line_error(index, field, message):
    return {"lines": {str(index): {field: [message]}}}


def lines_error(message):
    return {"lines": {"non_field_errors": [message]}}


NOT_WHOLE = "A whole number is required."
AT_LEAST_1 = "Ensure this value is greater than or equal to 1."
BAD_BODIES = {
    "no lines": ({"lines": [], "shipping_address": ADDRESS}, lines_error("This list may not be empty.")),
    "lines missing": ({"shipping_address": ADDRESS}, {"lines": ["This field is required."]}),
    "lines null": ({"lines": None, "shipping_address": ADDRESS}, {"lines": ["This field may not be null."]}),
    "lines a string": (
        {"lines": "1x mug", "shipping_address": ADDRESS},
        lines_error('Expected a list of items but got type "str".'),
    ),
    "line not an object": (
        {"lines": [1], "shipping_address": ADDRESS},
        line_error(0, "non_field_errors", "Invalid data. Expected a dictionary, but got int."),
    ),
    "quantity 0": (
        {"lines": [line(quantity=0)], "shipping_address": ADDRESS},
        line_error(0, "quantity", AT_LEAST_1),
    ),
    "quantity -1": (
        {"lines": [line(quantity=-1)], "shipping_address": ADDRESS},
        line_error(0, "quantity", AT_LEAST_1),
    ),
    "quantity 1001": (
        {"lines": [line(quantity=1001)], "shipping_address": ADDRESS},
        line_error(0, "quantity", "Ensure this value is less than or equal to 1000."),
    ),
    "quantity missing": (
        {"lines": [{"product_id": 1}], "shipping_address": ADDRESS},
        line_error(0, "quantity", "This field is required."),
    ),
    "quantity a string": (
        {"lines": [line(quantity="2")], "shipping_address": ADDRESS},
        line_error(0, "quantity", NOT_WHOLE),
    ),
    "quantity a fraction": (
        {"lines": [line(quantity=1.5)], "shipping_address": ADDRESS},
        line_error(0, "quantity", NOT_WHOLE),
    ),
    "quantity a float": (
        {"lines": [line(quantity=2.0)], "shipping_address": ADDRESS},
        line_error(0, "quantity", NOT_WHOLE),
    ),
    "quantity a boolean": (
        {"lines": [line(quantity=True)], "shipping_address": ADDRESS},
        line_error(0, "quantity", NOT_WHOLE),
    ),
    "quantity null": (
        {"lines": [line(quantity=None)], "shipping_address": ADDRESS},
        line_error(0, "quantity", "This field may not be null."),
    ),
    "product id a string": (
        {"lines": [line(product_id="1")], "shipping_address": ADDRESS},
        line_error(0, "product_id", NOT_WHOLE),
    ),
    "product id 0": (
        {"lines": [line(product_id=0)], "shipping_address": ADDRESS},
        line_error(0, "product_id", AT_LEAST_1),
    ),
    "product id a list": (
        {"lines": [line(product_id=[1])], "shipping_address": ADDRESS},
        line_error(0, "product_id", NOT_WHOLE),
    ),
    "duplicate product": (
        {"lines": [line(1), line(2), line(1, 3)], "shipping_address": ADDRESS},
        line_error(2, "product_id", "Product 1 is on more than one line; combine them."),
    ),
    "51 lines": (
        {"lines": [line(pid) for pid in range(1, 52)], "shipping_address": ADDRESS},
        lines_error("Ensure this field has no more than 50 elements."),
    ),
    "address missing": ({"lines": [line()]}, {"shipping_address": ["This field is required."]}),
    "address empty": (
        {"lines": [line()], "shipping_address": ""},
        {"shipping_address": ["This field may not be blank."]},
    ),
    "address blank": (
        {"lines": [line()], "shipping_address": "   "},
        {"shipping_address": ["This field may not be blank."]},
    ),
    "address too long": (
        {"lines": [line()], "shipping_address": "x" * 501},
        {"shipping_address": ["Ensure this field has no more than 500 characters."]},
    ),
    "address a number": (
        {"lines": [line()], "shipping_address": 12},
        {"shipping_address": ["Not a valid string."]},
    ),
    "address an object": (
        {"lines": [line()], "shipping_address": {"street": "x"}},
        {"shipping_address": ["Not a valid string."]},
    ),
    "body a list": ([line()], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    "unknown product": (
        {"lines": [line(1), line(99)], "shipping_address": ADDRESS},
        line_error(1, "product_id", "Unknown product 99."),
    ),
    "inactive product": (
        {"lines": [line(61), line(2)], "shipping_address": ADDRESS},
        line_error(0, "product_id", "Product 61 is not available."),
    ),
    "mixed currencies": (
        {"lines": [line(1), line(62)], "shipping_address": ADDRESS},
        lines_error("All products of an order must share one currency; found EUR, USD."),
    ),
}


@pytest.mark.django_db(databases=API_DBS)
@pytest.mark.parametrize(("body", "errors"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_order_is_refused_with_field_messages_and_nothing_written(catalog, customer_api, body, errors):
    response = customer_api.post("/api/orders/", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == errors
    assert_nothing_written()


@pytest.mark.django_db(databases=API_DBS)
def test_malformed_json_body_is_a_400_and_nothing_written(catalog, customer_api):
    response = customer_api.post(
        "/api/orders/", '{"lines": [{"product_id": 1,', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert_nothing_written()


@pytest.mark.django_db(databases=API_DBS)
def test_non_json_body_is_refused(catalog, customer_api):
    response = customer_api.post("/api/orders/", "lines=1", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert_nothing_written()


@pytest.mark.django_db(databases=API_DBS)
def test_every_bad_line_is_reported_at_once(catalog, customer_api):
    response = customer_api.post(
        "/api/orders/",
        {"lines": [line(98), line(2), line(61), line(99)], "shipping_address": ADDRESS},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "lines": {
            "0": {"product_id": ["Unknown product 98."]},
            "2": {"product_id": ["Product 61 is not available."]},
            "3": {"product_id": ["Unknown product 99."]},
        }
    }
    assert_nothing_written()


@pytest.mark.django_db(databases=API_DBS)
def test_fifty_lines_is_the_most_an_order_may_have(catalog, customer_api):
    response = customer_api.post(
        "/api/orders/",
        {"lines": [line(pid, 1000) for pid in range(1, 51)], "shipping_address": ADDRESS},
        format="json",
    )

    assert response.status_code == 201
    assert len(response.json()["lines"]) == 50
    assert response.json()["total"] == "500000.00"


# --- the service guards itself too (it is not only called by the API) ----------------------------


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("lines", "address", "errors"),
    [
        ([], ADDRESS, lines_error("An order needs at least one line.")),
        ([line(pid) for pid in range(1, 52)], ADDRESS, lines_error("At most 50 lines per order.")),
        (
            [line(1, 0), line(1, 1001)],
            ADDRESS,
            {
                "lines": {
                    "0": {"quantity": ["The quantity must be a whole number from 1 to 1000."]},
                    "1": {
                        "product_id": ["Product 1 is on more than one line; combine them."],
                        "quantity": ["The quantity must be a whole number from 1 to 1000."],
                    },
                }
            },
        ),
        (
            [line("1", True)],
            ADDRESS,
            {
                "lines": {
                    "0": {
                        "product_id": ["A product id must be a whole number of at least 1."],
                        "quantity": ["The quantity must be a whole number from 1 to 1000."],
                    }
                }
            },
        ),
        ([line()], " ", {"shipping_address": ["A shipping address is required."]}),
        ([line()], "x" * 501, {"shipping_address": ["At most 500 characters."]}),
    ],
)
def test_place_order_refuses_bad_input_itself(catalog, lines, address, errors):
    with pytest.raises(services.InvalidOrder) as caught:
        services.place_order(customer_id=1, lines=lines, shipping_address=address)

    assert caught.value.errors == errors
    assert_nothing_written()


@pytest.mark.django_db(databases=DBS)
def test_a_total_too_large_to_record_is_refused():
    ProductSnapshotFactory(product_id=1, price=Decimal("9999999999.99"))

    with pytest.raises(services.InvalidOrder) as caught:
        services.place_order(customer_id=1, lines=[line(1, 2)], shipping_address=ADDRESS)

    assert caught.value.errors == lines_error("The order total may not exceed 9999999999.99.")
    assert_nothing_written()
