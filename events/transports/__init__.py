"""Transports carry relayed events from the outbox to consumers.

A transport's send() delivers a whole batch or raises: the relay marks rows published only
after send() returned, so a failure anywhere means the batch is sent again (at least once;
consumers' inboxes make the repeat harmless).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from events.envelope import Event, kafka_record
from events.settings import events_settings


@dataclass(frozen=True)
class Message:
    """One outbox row on its way out: the event's attributes, and its data as the JSON text read
    from the outbox. A transport that forwards bytes (Kafka) never decodes the data; one that
    calls handlers (local) decodes it once, through `event`."""

    topic: str
    key: str
    attributes: dict[str, Any]  # every CloudEvents attribute but data
    data_json: str

    @classmethod
    def of(cls, topic: str, event: Event) -> Message:
        attributes = event.to_dict()
        data = attributes.pop("data")
        return cls(topic, event.subject, attributes, json.dumps(data, separators=(",", ":")))

    @cached_property
    def event(self) -> Event:
        return Event.from_dict({**self.attributes, "data": json.loads(self.data_json)})

    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) in CloudEvents binary mode: the data text goes out as it is."""
        return kafka_record(self.attributes, self.data_json.encode())


class Transport(Protocol):
    def send(self, messages: list[Message]) -> None:
        """Deliver every message, in order per key, or raise. Returns once all are acknowledged."""

    def close(self) -> None: ...


def get_transport(name: str | None = None) -> Transport:
    """The transport named in EVENTS['TRANSPORT'] (or `name`)."""
    name = name or events_settings.TRANSPORT
    if name == "local":
        from events.transports.local import LocalTransport

        return LocalTransport(services=events_settings.served_services())
    if name == "kafka":
        from events.transports.kafka.producer import KafkaTransport

        return KafkaTransport(bootstrap_servers=events_settings.KAFKA_BOOTSTRAP_SERVERS)
    raise ValueError(f"unknown EVENTS_TRANSPORT {name!r}: use 'local' or 'kafka'")
