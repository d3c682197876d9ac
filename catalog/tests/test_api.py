"""The product API: public browsing, staff-only management, and 400s that write nothing."""

from decimal import Decimal

import pytest

from catalog import services
from catalog.apps import ALIAS
from catalog.models import Product
from catalog.tests.factories import ProductFactory
from catalog.tests.helpers import published

pytestmark = pytest.mark.django_db(databases=["default", ALIAS])

URL = "/api/catalog/products/"


def _detail(product) -> str:
    return f"{URL}{product.pk}/"


def _skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["sku"] for p in response.json()["results"]]


@pytest.fixture
def shelf():
    """A small catalog: three active products (one sold out) and one inactive."""
    return {
        "mug": ProductFactory(sku="MUG-1", name="Stoneware Mug", price=Decimal("14.00"), stock=10),
        "pen": ProductFactory(sku="PEN-1", name="Fountain Pen", price=Decimal("29.00"), stock=0),
        "tea": ProductFactory(sku="TEA-1", name="Green Tea", price=Decimal("9.90"), stock=3),
        "old": ProductFactory(sku="OLD-MUG", name="Old Mug", price=Decimal("5.00"), stock=7, active=False),
    }


# --- browsing -----------------------------------------------------------------------------------


def test_anyone_can_list_active_products_sorted_by_name(anon_api, shelf):
    response = anon_api.get(URL)

    assert _skus(response) == ["PEN-1", "TEA-1", "MUG-1"]
    body = response.json()
    assert body["count"] == 3
    assert {"next", "previous"} <= body.keys()
    mug = body["results"][2]
    assert mug["price"] == "14.00"  # money is a string, never a float
    assert mug["currency"] == "EUR"
    assert mug["stock"] == 10
    assert mug["active"] is True


def test_customers_do_not_see_inactive_products_even_when_asking(customer_api, shelf):
    assert _skus(customer_api.get(URL, {"active": "false"})) == []
    assert customer_api.get(_detail(shelf["old"])).status_code == 404


def test_staff_see_inactive_products_and_can_filter_on_activity(staff_api, shelf):
    assert _skus(staff_api.get(URL)) == ["PEN-1", "TEA-1", "OLD-MUG", "MUG-1"]
    assert _skus(staff_api.get(URL, {"active": "false"})) == ["OLD-MUG"]
    assert staff_api.get(_detail(shelf["old"])).json()["active"] is False


def test_anyone_can_get_an_active_product(anon_api, shelf):
    response = anon_api.get(_detail(shelf["tea"]))

    assert response.status_code == 200
    assert response.json()["name"] == "Green Tea"


@pytest.mark.parametrize("path", ["999999/", "abc/"])
def test_an_unknown_product_is_404(anon_api, path):
    assert anon_api.get(URL + path).status_code == 404


def test_a_bad_token_is_401_even_on_public_reads(anon_api, shelf):
    anon_api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert anon_api.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("term", "expected"),
    [("mug", ["MUG-1"]), ("MUG", ["MUG-1"]), ("tea-1", ["TEA-1"]), ("pen", ["PEN-1"]), ("nothing", [])],
)
def test_search_matches_name_or_sku_case_insensitively(anon_api, shelf, term, expected):
    assert _skus(anon_api.get(URL, {"search": term})) == expected


def test_price_range_is_inclusive(anon_api, shelf):
    assert _skus(anon_api.get(URL, {"min_price": "9.90", "max_price": "14.00"})) == ["TEA-1", "MUG-1"]
    assert _skus(anon_api.get(URL, {"min_price": "20"})) == ["PEN-1"]
    assert _skus(anon_api.get(URL, {"max_price": "9.90"})) == ["TEA-1"]


def test_in_stock_filter(anon_api, shelf):
    assert _skus(anon_api.get(URL, {"in_stock": "true"})) == ["TEA-1", "MUG-1"]
    assert _skus(anon_api.get(URL, {"in_stock": "false"})) == ["PEN-1"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("price", ["TEA-1", "MUG-1", "PEN-1"]),
        ("-price", ["PEN-1", "MUG-1", "TEA-1"]),
        ("name", ["PEN-1", "TEA-1", "MUG-1"]),
        ("-name", ["MUG-1", "TEA-1", "PEN-1"]),
        ("created_at", ["MUG-1", "PEN-1", "TEA-1"]),
    ],
)
def test_ordering(anon_api, shelf, ordering, expected):
    assert _skus(anon_api.get(URL, {"ordering": ordering})) == expected


def test_filters_combine(anon_api, shelf):
    assert _skus(anon_api.get(URL, {"in_stock": "true", "max_price": "20", "ordering": "-price"})) == [
        "MUG-1",
        "TEA-1",
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "abc"}, "min_price"),
        ({"max_price": "1e999999"}, "max_price"),
        ({"min_price": "-1"}, "min_price"),
        # Written as in a body: digits and a point (shop/inputs.py's DECIMAL_SPELLING).
        ({"min_price": "1e1"}, "min_price"),
        ({"max_price": "\uff12\uff10"}, "max_price"),  # a fullwidth 20
        ({"max_price": "2_0"}, "max_price"),
        ({"min_price": "20", "max_price": "10"}, "min_price"),
        ({"in_stock": "maybe"}, "in_stock"),
        ({"active": "yes"}, "active"),
        ({"ordering": "stock"}, "ordering"),
        ({"ordering": "price;drop table"}, "ordering"),
    ],
)
def test_invalid_filter_values_are_400_naming_the_parameter(anon_api, shelf, params, field):
    response = anon_api.get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_pages_of_twenty(anon_api):
    ProductFactory.create_batch(25)

    first = anon_api.get(URL).json()
    second = anon_api.get(URL, {"page": 2}).json()

    assert (first["count"], len(first["results"]), len(second["results"])) == (25, 20, 5)
    assert not {p["id"] for p in first["results"]} & {p["id"] for p in second["results"]}


# --- managing (staff) ---------------------------------------------------------------------------

NEW = {"sku": "LAMP-1", "name": "Desk Lamp", "price": "74.00", "stock": 16, "description": "Dimmable."}


def test_staff_create_a_product_and_product_created_is_published(staff_api):
    response = staff_api.post(URL, NEW, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("sku", "name", "price", "stock", "currency", "active")} == {
        "sku": "LAMP-1",
        "name": "Desk Lamp",
        "price": "74.00",
        "stock": 16,
        "currency": "EUR",
        "active": True,
    }
    product = Product.objects.get(sku="LAMP-1")
    assert product.pk == body["id"]
    assert [e["product_id"] for e in published(services.PRODUCT_CREATED)] == [product.pk]


@pytest.mark.parametrize(
    ("method", "target", "payload"),
    [
        ("post", "list", NEW),
        ("put", "detail", {**NEW, "sku": "MUG-1"}),
        ("patch", "detail", {"price": "1.00"}),
        ("delete", "detail", None),
    ],
)
def test_writes_are_staff_only(anon_api, customer_api, shelf, method, target, payload):
    url = URL if target == "list" else _detail(shelf["mug"])

    anonymous = getattr(anon_api, method)(url, payload, format="json")
    customer = getattr(customer_api, method)(url, payload, format="json")

    assert anonymous.status_code == 401
    assert customer.status_code == 403
    mug = Product.objects.get(pk=shelf["mug"].pk)
    assert (mug.price, mug.active, mug.name) == (Decimal("14.00"), True, "Stoneware Mug")
    assert not Product.objects.filter(sku="LAMP-1").exists()
    assert published() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-1.00"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "1000000.01"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": None}, "price"),
        # An amount is digits and a point: no exponent, sign, spaces, separators or other digits.
        ({"price": "1e5"}, "price"),
        ({"price": "+1.00"}, "price"),
        ({"price": " 1.00"}, "price"),
        ({"price": "1_000.00"}, "price"),
        ({"price": "\uff11.00"}, "price"),  # a fullwidth 1
        ({"price": ".50"}, "price"),
        ({"stock": -1}, "stock"),
        ({"stock": 1_000_001}, "stock"),
        ({"stock": "many"}, "stock"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XEUR"}, "currency"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"sku": ""}, "sku"),
        ({"sku": "has space"}, "sku"),
        ({"sku": "MUG-1"}, "sku"),
    ],
)
def test_invalid_product_is_400_with_the_field_and_writes_nothing(staff_api, shelf, change, field):
    response = staff_api.post(URL, {**NEW, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Product.objects.count() == 4
    assert published() == []


def test_a_negative_zero_price_is_created_as_zero(staff_api):
    response = staff_api.post(URL, {**NEW, "price": "-0.00"}, format="json")

    assert response.status_code == 201
    assert response.json()["price"] == "0.00"
    assert published(services.PRODUCT_CREATED)[0]["price"] == "0.00"


def test_a_taken_sku_gets_a_clear_message(staff_api, shelf):
    response = staff_api.post(URL, {**NEW, "sku": "MUG-1"}, format="json")

    assert response.json()["errors"]["sku"] == ["A product with SKU 'MUG-1' already exists."]


@pytest.mark.parametrize("missing", ["sku", "name", "price"])
def test_required_fields(staff_api, missing):
    payload = {k: v for k, v in NEW.items() if k != missing}

    response = staff_api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert missing in response.json()["errors"]
    assert not Product.objects.exists()


def test_staff_change_a_price_and_both_events_are_published(staff_api, shelf):
    mug = shelf["mug"]

    response = staff_api.patch(_detail(mug), {"price": "15.50"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["price"] == "15.50"
    assert Product.objects.get(pk=mug.pk).price == Decimal("15.50")
    assert [e["type"] for e in published()] == [services.PRODUCT_UPDATED, services.PRICE_CHANGED]
    (change,) = published(services.PRICE_CHANGED)
    assert (change["old_price"], change["new_price"]) == ("14.00", "15.50")


def test_staff_rename_publishes_product_updated_only(staff_api, shelf):
    response = staff_api.patch(_detail(shelf["mug"]), {"name": "Big Mug", "stock": 20}, format="json")

    assert response.status_code == 200
    assert [e["type"] for e in published()] == [services.PRODUCT_UPDATED]
    assert published()[0]["name"] == "Big Mug"
    assert Product.objects.get(pk=shelf["mug"].pk).stock == 20


def test_staff_replace_a_product_with_put(staff_api, shelf):
    payload = {"sku": "MUG-1", "name": "Mug, Sand", "price": "14.00", "currency": "EUR", "stock": 4}

    response = staff_api.put(_detail(shelf["mug"]), payload, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Mug, Sand"
    assert [e["type"] for e in published()] == [services.PRODUCT_UPDATED]


def test_an_invalid_update_is_400_and_changes_nothing(staff_api, shelf):
    mug = shelf["mug"]

    response = staff_api.patch(_detail(mug), {"name": "Renamed", "price": "-3"}, format="json")

    assert response.status_code == 400
    assert "price" in response.json()["errors"]
    assert Product.objects.get(pk=mug.pk).name == "Stoneware Mug"
    assert published() == []


def test_staff_delete_deactivates_the_product(staff_api, anon_api, shelf):
    mug = shelf["mug"]

    response = staff_api.delete(_detail(mug))

    assert response.status_code == 204
    assert Product.objects.get(pk=mug.pk).active is False
    assert anon_api.get(_detail(mug)).status_code == 404
    (updated,) = published(services.PRODUCT_UPDATED)
    assert (updated["product_id"], updated["active"]) == (mug.pk, False)


def test_staff_can_reactivate_a_product(staff_api, anon_api, shelf):
    old = shelf["old"]

    response = staff_api.patch(_detail(old), {"active": True}, format="json")

    assert response.status_code == 200
    assert anon_api.get(_detail(old)).status_code == 200
    assert published(services.PRODUCT_UPDATED)[0]["active"] is True


def test_the_openapi_schema_describes_the_product_endpoints(anon_api):
    response = anon_api.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    listing = paths["/api/catalog/products/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "search",
        "min_price",
        "max_price",
        "in_stock",
        "ordering",
    }
    assert "204" in paths["/api/catalog/products/{id}/"]["delete"]["responses"]
