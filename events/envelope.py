"""The envelope every event travels in: CloudEvents 1.0 attributes plus JSON data.

On Kafka, binary content mode: attributes as `ce_*` headers, the value is the data alone.
Everywhere else (outbox rows, dead letters, the local transport) the structured form as a dict.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
# Optional attributes we carry: W3C trace context and the gateway's request id (extensions).
EXTENSIONS = ("traceparent", "requestid")


class EnvelopeError(ValueError):
    """A message that is not a valid event envelope."""


@dataclass(frozen=True)
class Event:
    type: str  # <system>.<app>.<aggregate>_<fact>.v<N>, e.g. shop.orders.order_placed.v1
    source: str  # /<system>/<app>
    subject: str  # the aggregate id; also the Kafka key, so one aggregate's events stay in order
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    specversion: str = SPECVERSION
    datacontenttype: str = CONTENT_TYPE
    traceparent: str | None = None
    requestid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The structured form: every attribute that is set, and data (not copied)."""
        return {name: value for name in _FIELDS if (value := getattr(self, name)) is not None}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        if not isinstance(raw, dict):
            raise EnvelopeError("an event envelope must be a JSON object")
        missing = [a for a in ("id", "source", "type", "specversion") if not raw.get(a)]
        if missing:
            raise EnvelopeError(f"event envelope lacks required attributes {missing}")
        if raw["specversion"] != SPECVERSION:
            raise EnvelopeError(f"unsupported CloudEvents specversion {raw['specversion']!r}")
        if not isinstance(raw.get("data"), dict):
            raise EnvelopeError("event data must be a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})

    # --- Kafka binary content mode ------------------------------------------------------------
    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for a Kafka record in CloudEvents binary mode."""
        attributes = {name: getattr(self, name) for name in ATTRIBUTES}
        value = json.dumps(self.data, separators=(",", ":"), sort_keys=True).encode()
        return kafka_record(attributes, value)

    @classmethod
    def from_kafka(cls, value: bytes | None, headers: list[tuple[str, bytes]]) -> Event:
        raw: dict[str, Any] = {}
        for name, blob in headers or []:
            text = blob.decode("utf-8", errors="replace") if blob is not None else ""
            if name.startswith("ce_"):
                raw[name[3:]] = text
            elif name == "traceparent":
                raw["traceparent"] = text
            elif name == "content-type":
                raw["datacontenttype"] = text
        try:
            raw["data"] = json.loads(value) if value else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"event data is not JSON: {exc}") from exc
        return cls.from_dict(raw)


_FIELDS = tuple(f.name for f in fields(Event))
# Every attribute but data, in field order.
ATTRIBUTES = tuple(f.name for f in fields(Event) if f.name != "data")
# (attribute, header) of the ce_* headers: every attribute but datacontenttype (that one is the
# content-type header); traceparent travels under its W3C name, so any tracer picks it up.
_HEADERS = tuple((a, a if a == "traceparent" else f"ce_{a}") for a in ATTRIBUTES if a != "datacontenttype")


def kafka_record(attributes: Mapping[str, Any], value: bytes) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of a Kafka record in CloudEvents binary mode, from an event's
    attributes and its data already encoded as JSON: the relay forwards the data text it read
    from the outbox without decoding it (events.transports.Message)."""
    headers = [("content-type", (attributes.get("datacontenttype") or CONTENT_TYPE).encode())]
    for name, header in _HEADERS:
        attribute = attributes.get(name)
        if attribute is not None:
            headers.append((header, str(attribute).encode()))
    return str(attributes["subject"]).encode(), value, headers
