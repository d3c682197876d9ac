"""Liveness of the processes that serve no HTTP (relay_outbox, consume_events).

Their loops call beat() whenever they make progress; it touches EVENTS_HEARTBEAT_FILE (unset:
nothing happens). A liveness probe that finds the file older than a couple of minutes restarts
the container (k8s/base/events/*.yaml): a process that hangs (a wedged connection, a deadlocked
thread) is replaced like one that crashed. A broker or database outage does not stop the beat:
the loops keep retrying, and restarting them would not help.
"""

from __future__ import annotations

import time
from pathlib import Path

from events.settings import events_settings

_last = 0.0


def beat() -> None:
    global _last
    path = events_settings.HEARTBEAT_FILE
    now = time.monotonic()
    if not path or now - _last < 1.0:  # a file write per second at most
        return
    _last = now
    Path(path).touch()
