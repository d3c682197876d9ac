"""The API's JSON parser (shop/parsers.py): what a body may be before any view sees it."""

from __future__ import annotations

import pytest

from catalog.models import Product
from shop.parsers import MAX_JSON_DEPTH, json_depth

URL = "/api/catalog/products/"


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not nest
        ('["\\"[[[", ["x"]]', 2),  # nor after an escaped quote
        (_nested(30_000), 30_000),
    ],
)
def test_json_depth_counts_nesting_outside_strings(text, depth):
    assert json_depth(text) == depth


def _post(api, body: bytes):
    return api.generic("POST", URL, body, content_type="application/json")


@pytest.mark.django_db(databases="__all__")
def test_a_body_nested_to_the_limit_is_parsed_and_one_level_more_is_a_400(staff_api):
    at_limit = _post(staff_api, b'{"sku": ' + _nested(MAX_JSON_DEPTH - 1).encode() + b"}")
    past_limit = _post(staff_api, b'{"sku": ' + _nested(MAX_JSON_DEPTH).encode() + b"}")

    assert at_limit.status_code == 400
    assert "sku" in at_limit.content.decode()  # parsed: the field is what is wrong
    assert past_limit.status_code == 400
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in past_limit.content.decode()


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (_nested(60_000 // 2).encode(), "nested deeper"),
        (b'{"price": NaN}', "NaN is not valid JSON"),
        (b'{"price": Infinity}', "Infinity is not valid JSON"),
        (b'{"price": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"price": 1e999}', "number out of range"),
        (b'{"stock": ' + b"9" * 5000 + b"}", "JSON parse error"),
        (b'{"name": "\xff"}', "not utf-8"),
        (b'{"name": ', "JSON parse error"),
        (b'{"sku": "A-1", "name": "x", "sku": "B-2"}', "duplicate key 'sku'"),
        (b'{"lines": [{"product_id": 1, "quantity": 1, "quantity": 900}]}', "duplicate key 'quantity'"),
        # A lone surrogate is no Unicode text: no field may take it, and no error may echo it
        # (the response could not be encoded as UTF-8), wherever it is — in a key too.
        (b'{"name": "a\\ud800b"}', "lone surrogate"),
        (b'{"name": "\\udc00"}', "lone surrogate"),
        (b'{"lines": [{"\\ud83d": 1}]}', "lone surrogate"),
    ],
)
def test_a_body_the_decoder_cannot_take_safely_is_a_400_that_says_why(staff_api, body, says):
    response = _post(staff_api, body)

    assert response.status_code == 400
    assert says in response.content.decode()


@pytest.mark.django_db(databases="__all__")
def test_a_body_that_names_a_field_twice_is_refused_whichever_value_would_have_won(staff_api):
    # Decoders disagree on which of two values counts (the first, the last, an error): a proxy
    # or a log that reads the other one than the service would see another request.
    body = b'{"sku": "LAMP-1", "name": "Desk Lamp", "price": "74.00", "price": "0.01"}'

    response = _post(staff_api, body)

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not Product.objects.exists()


@pytest.mark.django_db(databases="__all__")
def test_a_character_escaped_as_a_surrogate_pair_is_text_like_any_other(staff_api):
    body = b'{"sku": "MUG-1", "name": "Mug \\ud83d\\ude00", "price": "4.00"}'

    response = _post(staff_api, body)

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Mug \U0001f600"
