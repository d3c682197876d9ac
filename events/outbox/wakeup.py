"""Waking the relay the moment an outbox row commits, instead of at its next poll.

- In-process (the monolith): publish() schedules kick() on commit; the relay thread waits on
  `wake`.
- Across processes (Postgres): publish() sends NOTIFY inside its transaction, Postgres delivers
  it at commit, and every relay LISTENing on that database wakes (listen()).

The relay also polls, so a lost wake-up (a listener reconnecting) only costs one poll interval.
"""

from __future__ import annotations

import logging
import threading

from django.db import connections, transaction

from events.outage import Outage
from events.outbox.postgres import dedicated_connection
from events.settings import events_settings

log = logging.getLogger(__name__)

# Set on commit of a publish in this process: what the in-process relay thread waits on.
wake = threading.Event()


def kick(alias: str | None = None) -> None:
    """Wake the in-process relay (a no-op where none runs: another process polls/listens)."""
    wake.set()


def channel() -> str:
    """The LISTEN/NOTIFY channel of the outboxes."""
    return f"{events_settings.NAME}_outbox"


def on_publish(using: str) -> None:
    """Called by publish() inside its transaction: wake the in-process relay once that
    transaction commits. (Relays in other processes: publish()'s INSERT calls notifies().)"""
    transaction.on_commit(lambda: kick(using), using=using)


def notifies(using: str) -> bool:
    """Whether database `using` has NOTIFY (Postgres; not SQLite): publish() then calls
    pg_notify(channel(), '') inside its transaction, and every relay LISTENing on the channel
    is woken when that transaction commits."""
    return connections[using].vendor == "postgresql"


def listen(alias: str, wake: threading.Event, stop: threading.Event, notified: set[str]) -> None:
    """Until `stop`: whenever a transaction that wrote to this database's outbox commits, add
    the alias to `notified` and set `wake`. Reconnects after a failure, backing off while the
    database is out (polling covers the gap); logs the outage, not every try."""
    outage = Outage(f"LISTEN on {alias}", log)
    while not stop.is_set():
        try:
            with dedicated_connection(alias) as conn:
                conn.execute(f"LISTEN {channel()}")
                outage.recovered()
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0):
                        notified.add(alias)
                        wake.set()
        except Exception as exc:
            stop.wait(outage.failed(exc))
