"""Helpers for tests and scripts that need the saga to run to completion synchronously."""

from __future__ import annotations

from events.outbox.relay import relay_until_empty
from events.settings import events_settings
from events.transports.local import LocalTransport


def drain(aliases: list[str] | None = None) -> int:
    """Relay every outbox through the in-process transport until nothing is left; returns how
    many events were relayed. Handlers run (and publish) as they would in the monolith."""
    transport = LocalTransport(events_settings.served_services())
    return relay_until_empty(aliases or events_settings.served_databases(), transport)
