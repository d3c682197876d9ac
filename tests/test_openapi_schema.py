"""The OpenAPI schema is a contract a client can build on: valid, warning-free, every operation
summarised, every field typed, every enforced constraint stated, every error documented in the
one error shape. (tests/test_api_contract.py then holds the running API to it.)"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_schema_is_valid_openapi_and_generates_without_a_warning(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning (an untyped field, an enum name
    # collision, a view it cannot introspect) into an error; --validate checks OpenAPI 3.0.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"), stderr=StringIO()
    )


def test_every_operation_has_a_summary(schema):
    missing = [name for name, operation in _operations(schema) if not operation.get("summary")]

    assert missing == []


def test_every_error_an_operation_answers_is_documented_in_the_one_error_shape(schema):
    for name, operation in _operations(schema):
        responses = operation["responses"]
        errors = {code: r for code, r in responses.items() if code.startswith("4")}
        assert errors, name
        for code, response in errors.items():
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, (
                name,
                code,
            )
        if operation.get("security") and {} not in operation["security"]:
            assert "401" in responses, name  # a token is required
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= responses.keys(), name
        if "{id}" in name:
            assert "404" in responses, name
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "code", "request_id"}
    assert "errors" in error["properties"]


@pytest.mark.parametrize(
    ("operation", "statuses"),
    [
        ("POST /api/catalog/products/", {"400", "401", "403"}),
        ("DELETE /api/catalog/products/{id}/", {"401", "403", "404"}),
        ("POST /api/orders/{id}/cancel/", {"400", "401", "404", "409"}),
        ("POST /api/delivery/shipments/{id}/advance/", {"400", "401", "403", "404", "409"}),
        ("GET /api/orders/", {"400", "401", "404"}),
        ("GET /api/orders/projections/", {"401", "403"}),
        ("POST /api/auth/token/", {"400", "401"}),
    ],
)
def test_operations_document_the_errors_they_answer_with(schema, operation, statuses):
    documented = dict(_operations(schema))[operation]["responses"].keys()

    assert statuses <= documented


def test_an_order_is_typed_field_by_field_on_every_endpoint(schema):
    components = schema["components"]["schemas"]
    order = components["Order"]["properties"]
    line = components["OrderLine"]["properties"]
    entry = components["TimelineEntry"]["properties"]

    assert order["lines"] == {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"}}
    assert order["timeline"] == {"type": "array", "items": {"$ref": "#/components/schemas/TimelineEntry"}}
    assert (line["quantity"]["type"], line["unit_price"]["format"], line["product_id"]["type"]) == (
        "integer",
        "decimal",
        "integer",
    )
    assert (entry["at"]["format"], entry["event_id"]["format"]) == ("date-time", "uuid")
    assert order["shipment_status"]["nullable"] is True
    ops = dict(_operations(schema))
    for name, code in [
        ("POST /api/orders/", "201"),
        ("GET /api/orders/{id}/", "200"),
        ("POST /api/orders/{id}/cancel/", "200"),
    ]:
        assert ops[name]["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Order"
        }, name


def test_the_constraints_the_server_enforces_are_stated(schema):
    components = schema["components"]["schemas"]
    lines = components["PlaceOrderRequest"]["properties"]["lines"]
    line = components["OrderLineInputRequest"]["properties"]

    assert (lines["minItems"], lines["maxItems"]) == (1, 50)
    assert (line["product_id"]["minimum"], line["product_id"]["maximum"]) == (1, 2**63 - 1)
    assert (line["quantity"]["minimum"], line["quantity"]["maximum"]) == (1, 1000)
    for name, operation in _operations(schema):
        for parameter in operation.get("parameters", ()):
            if parameter["name"] == "page_size":
                assert (parameter["schema"]["minimum"], parameter["schema"]["maximum"]) == (1, 100), name


def test_each_set_of_choices_has_a_name_of_its_own(schema):
    enums = {name for name in schema["components"]["schemas"] if name.endswith("Enum")}

    assert {"OrderStatusEnum", "ShipmentStatusEnum", "ShipmentStepEnum"} <= enums
    assert not any(name.startswith("Status") for name in enums)  # no StatusFe7Enum-style names
