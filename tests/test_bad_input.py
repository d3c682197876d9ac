"""No input reaches a 5xx: every operation of the API, swept with what its parser, its fields and
its databases cannot take — a 400 (or the 4xx the operation documents) with a JSON body, and
not one row changed in any database.

The sweep is driven by the API's own OpenAPI schema: each operation's body fields, path ids,
query and header parameters get values outside what the schema allows (wrong JSON types,
integers beyond 64 bits, numbers out of range, NUL bytes, lone surrogates, strings over their
length, nesting past the parser's limit, invalid UTF-8...). A new operation, or a new field of
an existing one, is swept without touching this file; an operation missing from OPERATIONS
fails `test_every_operation_of_the_schema_is_swept`. Runs on SQLite and, in the Postgres suite,
on Postgres — the databases differ in what they refuse, so both are swept.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import router

from shop.parsers import MAX_JSON_DEPTH
from tests.factories import create_product, place_order

pytestmark = pytest.mark.django_db(databases="__all__")


@dataclass(frozen=True)
class Op:
    """How to reach one operation with a valid request, which the sweep then spoils."""

    role: str  # "anon", "customer" or "staff": who may call it
    body: Callable[[dict], dict] | None = None  # a valid body, from the world
    # What a spoiled request may answer besides 400 (the token endpoints answer 401 for a
    # token or a credential that is a string, just not a valid one).
    also: frozenset[int] = field(default_factory=frozenset)


def _register(world: dict) -> dict:
    return {"username": "newcomer", "email": "newcomer@example.com", "password": "a-long-passphrase-9"}


def _product(world: dict) -> dict:
    return {
        "sku": "SWEEP-1",
        "name": "Swept",
        "description": "",
        "price": "3.50",
        "currency": "EUR",
        "stock": 5,
    }


UNAUTHORIZED = frozenset({401})
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/api/auth/register/"): Op("anon", _register),
    ("POST", "/api/auth/token/"): Op(
        "anon", lambda w: {"username": w["customer"].username, "password": "wrong"}, UNAUTHORIZED
    ),
    ("POST", "/api/auth/token/refresh/"): Op("anon", lambda w: {"refresh": w["refresh"]}, UNAUTHORIZED),
    ("POST", "/api/auth/token/verify/"): Op("anon", lambda w: {"token": w["refresh"]}, UNAUTHORIZED),
    ("POST", "/api/auth/logout/"): Op("anon", lambda w: {"refresh": w["refresh"]}, UNAUTHORIZED),
    ("GET", "/api/catalog/products/"): Op("staff"),
    ("POST", "/api/catalog/products/"): Op("staff", _product),
    ("GET", "/api/catalog/products/{id}/"): Op("staff"),
    ("PUT", "/api/catalog/products/{id}/"): Op("staff", _product),
    ("PATCH", "/api/catalog/products/{id}/"): Op("staff", lambda w: {}),
    ("DELETE", "/api/catalog/products/{id}/"): Op("staff"),
    ("GET", "/api/delivery/shipments/"): Op("customer"),
    ("GET", "/api/delivery/shipments/{id}/"): Op("customer"),
    ("POST", "/api/delivery/shipments/{id}/advance/"): Op("staff", lambda w: {"status": "PICKED_UP"}),
    ("GET", "/api/orders/"): Op("customer"),
    ("POST", "/api/orders/"): Op(
        "customer",
        lambda w: {"lines": [{"product_id": w["product"], "quantity": 1}], "shipping_address": "1 Sweep St"},
    ),
    ("GET", "/api/orders/{id}/"): Op("customer"),
    ("POST", "/api/orders/{id}/cancel/"): Op("customer", lambda w: {"reason": "swept"}),
    ("GET", "/api/orders/projections/"): Op("staff"),
}


class Raw(str):
    """JSON text put into a body as it is (a number no Python value dumps to, e.g. 1e999)."""


@pytest.fixture(autouse=True)
def _no_throttling(settings):
    """The sweep sends hundreds of requests from one address to the identity endpoints; their
    rate limits are tested in shop/tests/test_throttling.py."""
    settings.SHOP_THROTTLE_RATES = dict.fromkeys(settings.SHOP_THROTTLE_RATES)


# --- the world: one of everything, so that every path id names something that exists -----------


@pytest.fixture
def world(staff, customer, staff_api, client_for, drain):
    from shop.identity.services import issue_tokens

    product = create_product(staff_api, sku="WORLD-1", stock=50)
    drain()
    order = place_order(client_for(customer), [(product, 1)]).json()
    drain()
    shipments = client_for(customer).get("/api/delivery/shipments/").json()["results"]
    assert shipments, "the world needs a shipment (the saga did not run)"
    return {
        "staff": staff,
        "customer": customer,
        "product": product,
        "order": order["id"],
        "shipment": shipments[0]["id"],
        "refresh": str(issue_tokens(customer)),
        "clients": {"anon": client_for(None), "customer": client_for(customer), "staff": client_for(staff)},
    }


def _operations(schema: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), path, operation


def _path_with(path: str, world: dict, id_value: str | None = None) -> str:
    if "{id}" not in path:
        return path
    owner = {"products": "product", "shipments": "shipment"}.get(path.split("/")[3], "order")
    return path.replace("{id}", id_value if id_value is not None else str(world[owner]))


# --- what the schema does not allow ------------------------------------------------------------


def _resolve(node: dict, schema: dict) -> dict:
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", ())) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node


def _enum_of(node: dict, schema: dict) -> list | None:
    if "enum" in node:
        return node["enum"]
    for option in node.get("oneOf", ()):
        values = _enum_of(_resolve(option, schema), schema)
        if values:
            return values
    return None


def bad_values(node: dict, schema: dict) -> list[tuple[str, Any]]:
    """(label, value) pairs the schema node `node` does not allow."""
    node = _resolve(node, schema)
    kind = node.get("type")
    values: list[tuple[str, Any]] = []
    if not node.get("nullable"):
        values.append(("null", None))
    if kind != "array":
        values.append(("an array", [1]))
    if kind != "object":
        values.append(("an object", {"a": 1}))
    if _enum_of(node, schema) is not None:
        # The lone surrogate too: a choice field echoes what it refuses ('"x" is not a valid choice').
        return [
            *values,
            ("no choice", "NOT-A-CHOICE"),
            ("a NUL", "\x00"),
            ("a lone surrogate", "a\ud800b"),
            ("a number", 1),
        ]
    if kind == "integer":
        values += [
            ("digits in a string", "1"),
            ("a fraction", 1.5),
            ("a boolean", True),
            ("2**63", 2**63),
            ("2**64", 2**64),
            ("-2**63 - 1", -(2**63) - 1),
            ("10**30", 10**30),
            ("4300 digits", Raw("9" * 4300)),
            ("1e999", Raw("1e999")),
        ]
        if "minimum" in node:
            values.append(("below the minimum", node["minimum"] - 1))
        if "maximum" in node:
            values.append(("above the maximum", node["maximum"] + 1))
    elif kind == "string":
        values += [
            ("a number", 12),
            ("a boolean", True),
            ("a NUL", "a\x00b"),
            ("a lone surrogate", "a\ud800b"),
            ("60 000 characters", "x" * 60_000),
        ]
        if "maxLength" in node:
            values.append(("one over maxLength", "x" * (node["maxLength"] + 1)))
        if node.get("minLength", 0) >= 1:
            values.append(("under minLength", ""))
        if node.get("format") == "decimal":
            values += [
                ("1e400", "1e400"),
                ("NaN", "NaN"),
                ("Infinity", "Infinity"),
                ("30 digits", "9" * 30),
                ("a float", 1.5),
            ]
    elif kind == "boolean":
        values += [("a string", "true"), ("a number", 1)]
    elif kind == "number":
        values += [("a string", "1"), ("a boolean", True), ("1e999", Raw("1e999"))]
    elif kind == "array":
        values += [("a string", "x"), ("a number", 1)]
        if node.get("minItems", 0) >= 1:
            values.append(("empty", []))
    elif kind == "object":
        values += [("a string", "x"), ("a number", 1)]
    return values


def spoiled_bodies(body_schema: dict, valid: dict, schema: dict) -> Iterator[tuple[str, bytes]]:
    """(label, raw body): the valid body with one value spoiled at a time, then whole bodies
    that are not a JSON object at all."""
    for label, body in _spoil(_resolve(body_schema, schema), valid, schema, ""):
        yield label, _dump(body)
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    yield "nested one level past the limit", deep.encode()
    yield "nested 30 000 levels", ("[" * 30_000 + "]" * 30_000).encode()
    too_deep = json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)  # one more level: the body
    yield "nested too deep inside an unknown field", _dump({**valid, "unknown": too_deep})
    yield "an array", b"[]"
    yield "a string", b'"x"'
    yield "null", b"null"
    yield "a number", b"1"
    yield "truncated JSON", b'{"a": '
    yield "NaN", b'{"a": NaN}'
    yield "invalid UTF-8", b'{"a": "\xff\xfe"}'
    yield "UTF-16", json.dumps(valid).encode("utf-16")


def _spoil(node: dict, valid: Any, schema: dict, where: str) -> Iterator[tuple[str, Any]]:
    if node.get("type") == "object":
        for name, child in node.get("properties", {}).items():
            child_node = _resolve(child, schema)
            if child_node.get("readOnly"):
                continue
            for label, value in bad_values(child_node, schema):
                yield f"{where}{name}: {label}", {**valid, name: value}
            if name in valid:
                for label, value in _spoil(child_node, valid[name], schema, f"{where}{name}."):
                    yield label, {**valid, name: value}
    elif node.get("type") == "array" and valid:
        item = _resolve(node["items"], schema)
        if "maxItems" in node:
            yield f"{where}: over maxItems", [valid[0]] * (node["maxItems"] + 1)
        for label, value in bad_values(item, schema):
            yield f"{where}0: {label}", [value, *valid[1:]]
        for label, value in _spoil(item, valid[0], schema, f"{where}0."):
            yield label, [value, *valid[1:]]


def _dump(body: Any) -> bytes:
    raws: list[str] = []

    def default(value):  # never called: Raw is a str
        raise TypeError(value)

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value)
            return f"\x01raw{len(raws) - 1}\x01"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(body), default=default)
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x01raw{index}\x01"), raw)
    return text.encode("utf-8", errors="surrogatepass")


def bad_parameter_values(node: dict, schema: dict) -> list[tuple[str, str]]:
    """Values of a query or header parameter that its schema does not allow (all strings)."""
    node = _resolve(node, schema)
    kind = node.get("type")
    values = [("a NUL", "a\x00b")]
    if _enum_of(node, schema) is not None or kind in {"integer", "number", "boolean"}:
        values += [("a word", "abc"), ("5000 characters", "9" * 5000)]
    if kind == "integer":
        values += [
            ("a fraction", "1.5"),
            ("2**63", str(2**63)),
            ("2**64", str(2**64)),
            ("10**30", str(10**30)),
        ]
        values += [("1e999", "1e999"), ("-1", "-1"), ("0", "0")] if node.get("minimum", 0) >= 1 else []
        if "maximum" in node:
            values.append(("above the maximum", str(node["maximum"] + 1)))
    if kind == "number":
        values += [("1e999", "1e999"), ("NaN", "NaN"), ("Infinity", "Infinity"), ("40 digits", "9" * 40)]
        if node.get("minimum", -1) >= 0:
            values.append(("negative", "-1"))
    if kind == "string" and node.get("format") == "decimal":
        values += [("1e999", "1e999"), ("NaN", "NaN"), ("negative", "-1"), ("3 decimals", "1.999")]
        values += [("30 digits", "9" * 30), ("a word", "abc")]
    if kind == "string" and node.get("format") in {"date-time", "uuid"}:
        values += [("a word", "abc"), ("year 99999", "99999-01-01T00:00:00Z")]
    if kind == "string" and "maxLength" in node:
        values.append(("one over maxLength", "x" * (node["maxLength"] + 1)))
    if kind == "string" and "pattern" in node and not re.search(node["pattern"], "abc"):
        values.append(("not matching the pattern", "abc"))
    return values


# --- the sweep --------------------------------------------------------------------------------


def database_state() -> dict[tuple[str, str], list[dict]]:
    """Every row of every table in every database this process serves."""
    state = {}
    for alias in settings.SERVED_ALIASES:
        for model in apps.get_models():
            if not model._meta.proxy and router.allow_migrate_model(alias, model):
                rows = model.objects.using(alias).order_by("pk").values()
                state[(alias, model._meta.label)] = list(rows)
    return state


def _describe(response) -> str:
    return f"{response.status_code} {response.content[:200]!r}"


def _is_json(response) -> bool:
    try:
        return isinstance(json.loads(response.content), dict)
    except ValueError:
        return False


def _send(client, method: str, path: str, body: bytes | None = None, **extra):
    return client.generic(method, path, body or b"", content_type="application/json", **extra)


def test_every_operation_of_the_schema_is_swept(schema):
    documented = {(method, path) for method, path, _ in _operations(schema)}

    assert documented == set(OPERATIONS), "add the operation to OPERATIONS (who calls it, a valid body)"


@pytest.mark.parametrize(("method", "path"), list(OPERATIONS), ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_bad_input_is_a_4xx_in_json_and_changes_nothing(schema, world, method, path):
    logging.disable(logging.CRITICAL)  # the sweep expects no 500; if one comes, the test says so
    try:
        _sweep(schema, world, method, path)
    finally:
        logging.disable(logging.NOTSET)


def _sweep(schema: dict, world: dict, method: str, path: str) -> None:
    op = OPERATIONS[(method, path)]
    operation = schema["paths"][path][method.lower()]
    client = world["clients"][op.role]
    client.raise_request_exception = False
    before = database_state()
    failures: list[str] = []
    sent = 0

    def check(label: str, response, allowed: set[int]) -> None:
        nonlocal sent
        sent += 1
        if response.status_code not in allowed or not _is_json(response):
            failures.append(f"{label}: {_describe(response)} (expected one of {sorted(allowed)}, JSON)")

    body_schema = (
        operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    )
    if body_schema is not None:
        valid = op.body(world)
        for label, raw in spoiled_bodies(body_schema, valid, schema):
            response = _send(client, method, _path_with(path, world), raw)
            check(f"body {label}", response, {400, *op.also})

    if "{id}" in path:
        for label, value in [
            ("0", "0"),
            ("19 nines", "9" * 19),
            ("2**63", str(2**63)),
            ("2**64", str(2**64)),
            ("5000 digits", "9" * 5000),
            ("-1", "-1"),
            ("1.5", "1.5"),
            ("a word", "abc"),
            ("a NUL", "%00"),
        ]:
            valid_body = _dump(op.body(world)) if op.body else None
            response = _send(client, method, _path_with(path, world, value), valid_body)
            check(f"path id {label}", response, {404})

    for parameter in operation.get("parameters", []):
        if parameter["in"] not in {"query", "header"}:
            continue
        for label, value in bad_parameter_values(parameter["schema"], schema):
            if parameter["in"] == "query":
                response = _send(
                    client, method, _path_with(path, world), None, QUERY_STRING=_query(parameter, value)
                )
            else:
                header = "HTTP_" + parameter["name"].upper().replace("-", "_")
                response = _send(client, method, _path_with(path, world), None, **{header: value})
            check(f"{parameter['in']} {parameter['name']} {label}", response, {400, 404})

    if method == "GET":
        response = _send(client, method, _path_with(path, world), None, QUERY_STRING="unknown=a%00b")
        check("an unknown query parameter (ignored)", response, {200})
        many = "&".join(f"p{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
        response = _send(client, method, _path_with(path, world), None, QUERY_STRING=many)
        check("more query parameters than Django takes", response, {400})
    assert not failures, f"{method} {path} as {op.role}:\n  " + "\n  ".join(failures)
    assert database_state() == before, f"{method} {path}: a refused request changed the databases"


def _query(parameter: dict, value: str) -> str:
    from urllib.parse import quote

    return f"{parameter['name']}={quote(value)}"
