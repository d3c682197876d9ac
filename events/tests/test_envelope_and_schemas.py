import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.envelope import EnvelopeError, Event
from events.schemas import EventSchemaError, event_types, topic_for, validate

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
