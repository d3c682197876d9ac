"""Transports carry relayed events from the outbox to consumers.

A transport's send() delivers a whole batch or raises: the relay marks rows published only
after send() returned, so a failure anywhere means the batch is sent again (at least once;
consumers' inboxes make the repeat harmless).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from events.envelope import Event


@dataclass(frozen=True)
class Message:
    topic: str
    key: str
    event: Event


class Transport(Protocol):
    def send(self, messages: list[Message]) -> None:
        """Deliver every message, in order per key, or raise. Returns once all are acknowledged."""

    def close(self) -> None: ...


def get_transport(name: str | None = None) -> Transport:
    """The transport named in settings.EVENTS['TRANSPORT'] (or `name`)."""
    name = name or settings.EVENTS["TRANSPORT"]
    if name == "local":
        from events.transports.local import LocalTransport

        return LocalTransport(services=settings.SHOP_SERVICES)
    if name == "kafka":
        from events.transports.kafka import KafkaTransport

        return KafkaTransport(bootstrap_servers=settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"])
    raise ValueError(f"unknown EVENTS_TRANSPORT {name!r}: use 'local' or 'kafka'")
