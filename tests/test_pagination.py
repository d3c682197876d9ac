"""Every list pages the same way for a client: `page_size` is honoured (1 to 100) or refused
with a 400, never ignored while copied into `next`; a cursor the server did not make is a 404,
never a 500. Products and shipments take page numbers, orders take cursors."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

import pytest

from shop.pagination import MAX_PAGE_SIZE
from tests.factories import create_product, place_order

pytestmark = pytest.mark.django_db(databases="__all__")

LISTS = ["/api/catalog/products/", "/api/delivery/shipments/", "/api/orders/"]


@pytest.fixture
def three_of_everything(staff_api, customer_api, drain):
    """Three products, and three orders of the customer, each confirmed with its shipment."""
    products = [create_product(staff_api, sku=f"PAGE-{n}") for n in range(3)]
    drain()
    for product in products:
        assert place_order(customer_api, [(product, 1)]).status_code == 201
    drain()
    return customer_api


def _ids(page: dict) -> list[int]:
    return [item["id"] for item in page["results"]]


@pytest.mark.parametrize("url", LISTS)
def test_every_list_honours_page_size_and_its_next_link_keeps_it(three_of_everything, url):
    api = three_of_everything

    first = api.get(url, {"page_size": 2})
    assert first.status_code == 200, first.content
    second = api.get(first.json()["next"])

    assert len(first.json()["results"]) == 2
    assert "page_size=2" in first.json()["next"]
    assert len(second.json()["results"]) == 1
    assert second.json()["next"] is None
    assert set(_ids(first.json())).isdisjoint(_ids(second.json()))
    assert api.get(second.json()["previous"]).json()["results"] == first.json()["results"]


@pytest.mark.parametrize("url", LISTS)
def test_every_list_refuses_a_page_size_it_would_not_use(three_of_everything, url):
    for size in ["0", "-1", str(MAX_PAGE_SIZE + 1), "abc", "1.5", "9" * 30, "%00", "%20"]:
        response = three_of_everything.get(f"{url}?page_size={size}")

        assert response.status_code == 400, size
        assert response.json()["errors"]["page_size"] == [f"A whole number from 1 to {MAX_PAGE_SIZE}."]


@pytest.mark.parametrize("url", LISTS)
def test_an_empty_parameter_is_one_not_given_on_every_list(three_of_everything, url):
    everything = _ids(three_of_everything.get(url).json())
    empty = {"page_size": "", "cursor": "", "page": "", "status": "", "search": "", "product": ""}

    response = three_of_everything.get(url, empty)

    assert response.status_code == 200, response.content
    assert _ids(response.json()) == everything


@pytest.mark.parametrize("url", LISTS)
def test_the_largest_page_size_is_honoured(three_of_everything, url):
    response = three_of_everything.get(url, {"page_size": MAX_PAGE_SIZE})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


@pytest.mark.parametrize("url", ["/api/catalog/products/", "/api/delivery/shipments/"])
def test_a_page_that_does_not_exist_is_a_404(three_of_everything, url):
    for page in ["0", "3", "abc", "9" * 30]:
        response = three_of_everything.get(url, {"page": page, "page_size": 2})

        assert response.status_code == 404, page
        assert response.json()["detail"] == "Invalid page."


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


def _url_cursor(**fields: str) -> str:
    """A cursor as the server writes one (base64 of a query string), in a URL."""
    return quote(_cursor(urlencode(fields)))


TAMPERED_CURSORS = [
    "garbage",
    "%00",
    "é",
    _cursor("x=1"),
    _cursor("p=1&p=2"),
    _cursor("p=not-a-time"),
    _cursor("p=2026-01-01%00"),
    _cursor("p=99999-01-01T00:00:00Z"),
    _cursor("p=" + "9" * 5000),
    _cursor("o=abc"),
    _cursor("o=-5"),
    _cursor("o=1001"),
    _cursor("r=yes"),
    base64.b64encode(b"p=\xff\xfe").decode(),
]


def test_a_tampered_cursor_is_a_404(three_of_everything):
    for cursor in TAMPERED_CURSORS:
        response = three_of_everything.get(f"/api/orders/?cursor={cursor}")

        assert response.status_code == 404, cursor
        assert response.json()["detail"] == "Invalid cursor"


def test_a_well_formed_cursor_made_up_by_a_client_only_moves_the_page(three_of_everything):
    everything = _ids(three_of_everything.get("/api/orders/").json())
    far_future = _url_cursor(p="2999-01-01 00:00:00+00:00")

    response = three_of_everything.get(f"/api/orders/?cursor={far_future}")

    assert response.status_code == 200
    assert _ids(response.json()) == everything  # still only the caller's own orders
