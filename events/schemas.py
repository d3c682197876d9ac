"""The event contract: one JSON Schema per event type and version in events/schemas/.

Schemas are data, not code: every service ships the same folder and validates what it publishes
and what it consumes against it, the way services share a schema registry. A schema also names
the topic its events travel on (`x-topic`), so a consumer subscribes without importing the
producer.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


class EventSchemaError(ValueError):
    """Event data that does not match its type's schema, or an event type with no schema."""


@cache
def _validators() -> dict[str, tuple[Draft202012Validator, str]]:
    found = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        if schema["$id"] != path.stem:
            raise EventSchemaError(f"{path.name}: $id {schema['$id']!r} must equal the file name")
        found[path.stem] = (Draft202012Validator(schema, format_checker=FormatChecker()), schema["x-topic"])
    return found


def event_types() -> list[str]:
    return sorted(_validators())


def topic_for(event_type: str) -> str:
    """The topic events of this type are published to (one topic per aggregate type)."""
    return _lookup(event_type)[1]


def validate(event_type: str, data: Any) -> None:
    """Raise EventSchemaError, naming every problem and where it is, unless data is valid."""
    validator = _lookup(event_type)[0]
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors
        )
        raise EventSchemaError(f"{event_type} data is invalid: {problems}")


def _lookup(event_type: str) -> tuple[Draft202012Validator, str]:
    try:
        return _validators()[event_type]
    except KeyError:
        raise EventSchemaError(
            f"unknown event type {event_type!r}: no schema {event_type}.json in {SCHEMA_DIR}"
        ) from None
