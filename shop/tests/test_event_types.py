"""The shop's event type names (shop/event_types.py) and the contract (events/schemas/) agree."""

from __future__ import annotations

from events.schemas import event_types
from shop import event_types as names


def test_every_event_type_is_named_once_and_every_name_has_a_schema():
    named = [value for key, value in vars(names).items() if key.isupper()]

    assert len(named) == len(set(named)), "a type named twice"
    assert set(named) == set(event_types())


def test_each_name_is_its_type_in_capitals():
    for key, value in vars(names).items():
        if key.isupper():
            assert value == f"shop.{value.split('.')[1]}.{key.lower()}.v1", key
