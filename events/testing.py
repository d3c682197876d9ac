"""Helpers for tests and scripts that need the saga to run to completion synchronously."""

from __future__ import annotations

from typing import Any

from events.envelope import Event
from events.outbox.publish import source_of
from events.outbox.relay import relay_until_empty
from events.settings import events_settings
from events.transports.local import LocalTransport


def drain(aliases: list[str] | None = None) -> int:
    """Relay every outbox through the in-process transport until nothing is left; returns how
    many events were relayed. Handlers run (and publish) as they would in the monolith."""
    transport = LocalTransport(events_settings.served_services())
    return relay_until_empty(aliases or events_settings.served_databases(), transport)


def event(event_type: str, subject: object, **data: Any) -> Event:
    """An event of `event_type` about `subject` as its publisher would send it (the same
    `source`), for feeding a handler in a test; not validated (a test may want a bad one)."""
    return Event(type=event_type, source=source_of(event_type), subject=str(subject), data=data)
