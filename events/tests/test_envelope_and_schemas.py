import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from events.envelope import EnvelopeError, Event
from events.schemas import SCHEMA_DIR, EventSchemaError, event_types, topic_for, validate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=10,
)


@given(
    data=st.dictionaries(st.text(min_size=1), json_values, max_size=5),
    subject=st.text(min_size=1, max_size=40),
    requestid=st.none() | st.from_regex(r"[A-Za-z0-9-]{1,32}", fullmatch=True),
)
def test_an_envelope_survives_kafka_binary_mode_and_structured_mode(data, subject, requestid):
    event = Event(
        type="shop.orders.order_placed.v1",
        source="/shop/orders",
        subject=subject,
        data=data,
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        requestid=requestid,
    )
    key, value, headers = event.to_kafka()
    assert key == subject.encode()
    assert ("traceparent", event.traceparent.encode()) in headers
    assert Event.from_kafka(value, headers) == event
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be a JSON object"),
        ({"id": "1", "source": "/x", "type": "t"}, "lacks required attributes ['specversion']"),
        ({"id": "1", "source": "/x", "type": "t", "specversion": "0.3", "data": {}}, "specversion"),
        (
            {"id": "1", "source": "/x", "type": "t", "specversion": "1.0", "data": [1]},
            "data must be a JSON object",
        ),
    ],
)
def test_a_malformed_envelope_is_refused_with_a_clear_message(raw, message):
    with pytest.raises(EnvelopeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Event.from_dict(raw)


def test_kafka_value_that_is_not_json_is_an_envelope_error():
    with pytest.raises(EnvelopeError, match="not JSON"):
        Event.from_kafka(
            b"{nope", [("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t"), ("ce_specversion", b"1.0")]
        )


def test_every_event_type_has_a_schema_and_a_topic_per_aggregate():
    types = event_types()
    assert "shop.orders.order_placed.v1" in types
    assert len(types) >= 17
    for event_type in types:
        app = event_type.split(".")[1]
        assert topic_for(event_type).startswith(f"shop.{app}.")


def test_invalid_data_is_refused_naming_each_problem():
    with pytest.raises(EventSchemaError) as err:
        validate("shop.orders.order_rejected.v1", {"order_id": 0, "extra": 1})
    message = str(err.value)
    assert "order_id" in message
    assert "reason" in message
    assert "extra" in message


def test_unknown_event_type_is_refused():
    with pytest.raises(EventSchemaError, match="unknown event type"):
        validate("shop.orders.order_teleported.v1", {})


@given(cents=st.integers(min_value=0, max_value=10**12 - 1))
def test_any_two_place_money_string_validates_and_floats_do_not(cents):
    price = f"{cents // 100}.{cents % 100:02d}"
    data = {"product_id": 1, "old_price": price, "new_price": price, "currency": "EUR"}
    validate("shop.catalog.price_changed.v1", data)
    with pytest.raises(EventSchemaError):
        validate("shop.catalog.price_changed.v1", {**data, "new_price": cents / 100})


# Values at the edges of what the contracts allow: patterns (a final newline, non-ASCII digits),
# formats, bounds, booleans and floats where integers are asked.
EDGE_VALUES = [
    *["", "x", "EUR", "eur", "12.50", "12.50\n", "\u0661\u0662.\u0665\u0660", "a" * 300],
    *["2026-12-02T12:00:00+00:00", "2026-12-02 12:00", "yesterday"],
    *[0, 1, 2, 1000, 1001, -1, 1.0, 2.5, True, False, 10**20, None, [], {}],
]


def instances(schema):
    """Data shaped like `schema`: mostly allowed by it, often at the edge of that, sometimes not."""
    if "properties" in schema:
        parts = {key: instances(part) for key, part in schema["properties"].items()}
        required = {key: parts[key] for key in schema.get("required", [])}
        others = {key: part for key, part in parts.items() if key not in required}
        return st.fixed_dictionaries(required, optional=others) | st.fixed_dictionaries(
            {}, optional={**parts, "extra": st.just(1)}
        )
    if schema.get("type") == "array":
        return st.lists(instances(schema["items"]), max_size=3)
    candidates = [*schema.get("enum", []), *EDGE_VALUES]
    reference = Draft202012Validator(schema, format_checker=FormatChecker())
    allowed = [value for value in candidates if reference.is_valid(value)]
    return st.sampled_from(allowed * 8 + candidates)


@given(st.data())
def test_data_is_valid_exactly_when_the_reference_validator_says_so(data):
    # validate() asks a faster validator first; the answer must still be jsonschema's own.
    event_type = data.draw(st.sampled_from(event_types()))
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
    instance = data.draw(instances(schema))
    try:
        validate(event_type, instance)
        accepted = True
    except EventSchemaError:
        accepted = False
    assert accepted == Draft202012Validator(schema, format_checker=FormatChecker()).is_valid(instance)
