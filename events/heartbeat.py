"""Liveness of the processes that serve no HTTP (relay_outbox, consume_events).

Their loops call beat() while they are alive; it touches EVENTS_HEARTBEAT_FILE (unset: nothing
happens). A liveness probe that finds the file older than a few minutes restarts the container
(k8s/base/relay/relay.yaml, k8s/base/events/consumer.yaml).

Alive means what an orchestrator needs to know (Liveness): the loop made progress, or had
nothing to do, within STALL_SECONDS; or it is waiting on a dependency that is out right now,
confirmed by asking that dependency afresh (events/outage.py): restarting a process does not
bring a database or a broker back. A loop that hangs (a wedged connection, a deadlocked thread)
or keeps failing while its database and broker answer (pending outbox rows it cannot send,
records it cannot apply) stops the beat and is replaced like one that crashed.
"""

from __future__ import annotations

import time
from pathlib import Path

from events.settings import events_settings

# A relay turn takes at most one send (30 s) plus the marking; a consumer turn one poll plus
# applying its records, retries included. Four times that is a loop that no longer turns.
STALL_SECONDS = 120.0

_last = 0.0


def beat() -> None:
    global _last
    path = events_settings.HEARTBEAT_FILE
    now = time.monotonic()
    if not path or now - _last < 1.0:  # a file write per second at most
        return
    _last = now
    Path(path).touch()


class Liveness:
    """Whether one loop is alive: it made progress (or found nothing to do) less than
    `stall_seconds` ago, or its last failure was a dependency confirmed to be out."""

    def __init__(self, stall_seconds: float | None = None):
        self.stall_seconds = STALL_SECONDS if stall_seconds is None else stall_seconds
        self._ok_at = time.monotonic()

    def progressed(self) -> None:
        """The loop did its work, or there was none to do."""
        self._ok_at = time.monotonic()

    def failed(self, *, dependency_out: bool) -> None:
        """A turn failed; `dependency_out`: because a database or the broker is out (probed
        afresh), which excuses it. Any other failure counts against the loop."""
        if dependency_out:
            self._ok_at = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._ok_at < self.stall_seconds
