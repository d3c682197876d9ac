"""Helpers for tests and scripts that need the saga to run to completion synchronously."""

from __future__ import annotations

from django.conf import settings

from events.relay import relay_until_empty
from events.transports.local import LocalTransport


def drain(aliases: list[str] | None = None) -> int:
    """Relay every outbox through the in-process transport until nothing is left; returns how
    many events were relayed. Handlers run (and publish) as they would in the monolith."""
    return relay_until_empty(aliases or settings.SERVED_ALIASES, LocalTransport(settings.SHOP_SERVICES))
