"""One active relay per database, so rows leave in id order and one aggregate's events keep their
order even with several relay replicas running: the others stand by and take over when the
holder dies. One small backend per kind of database; lock_for() picks it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.db import connections

from events.outbox.postgres import dedicated_connection
from events.settings import events_settings

if TYPE_CHECKING:
    import psycopg


class RelayLock:
    """Held by the one active relay of a database. acquire() never blocks."""

    def acquire(self) -> bool:
        """True if this relay holds the lock now (taken now or still held); raises if that
        cannot be known (the database is out)."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class PostgresAdvisoryLock(RelayLock):
    """A session-level advisory lock on a dedicated connection: released by the server when the
    holder's connection goes away, so a standby takes over as soon as the holder dies.

    The lock is ours while that session lives. The relay asks on every wake-up — dozens of times
    a second under load — so a held lock is confirmed by a query (SELECT 1) at most every
    PROBE_SECONDS; in between, by looking whether the idle connection has anything to read: a
    server that terminates the session or goes down says so on the socket (an error message, EOF),
    which triggers the query at once. What only the query notices — a connection broken silently
    on the network — is noticed within PROBE_SECONDS, as with the relay's 1 s poll before: until
    then a standby that took the lock and this relay may both send rows, which consumers'
    inboxes absorb (each relay sends in id order, so first arrivals keep their order)."""

    PROBE_SECONDS = 1.0

    def __init__(self, alias: str):
        self.alias = alias
        name = connections[alias].settings_dict["NAME"]
        self.key = zlib.crc32(f"{events_settings.NAME}.relay.{name}".encode())
        self._conn: psycopg.Connection[Any] | None = None
        self._confirmed = 0.0  # monotonic time of the last query that confirmed the session

    def acquire(self) -> bool:
        """True if held (taken now or still held), False if another relay holds it. Raises if the
        database cannot be reached: the relay loop backs off and logs that as an outage."""
        try:
            if self._conn is not None and not self._conn.closed:
                if time.monotonic() - self._confirmed < self.PROBE_SECONDS and not self._disturbed():
                    return True
                self._conn.execute("SELECT 1")
                self._confirmed = time.monotonic()
                return True
        except Exception:
            self.release()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = dedicated_connection(self.alias)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
            held = bool(row and row[0])
        except Exception:
            self.release()
            raise
        if not held:
            self.release()
        self._confirmed = time.monotonic()
        return held

    def _disturbed(self) -> bool:
        """Whether the server sent anything on the idle lock connection (it never should)."""
        assert self._conn is not None
        poller = select.poll()
        poller.register(self._conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class FileLock(RelayLock):
    """flock on a file beside the SQLite database: released by the kernel when the holder dies."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ThreadLock(RelayLock):
    """For in-memory test databases, which only this process can see."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False

    def acquire(self) -> bool:
        self._held = self._held or self._lock.acquire(blocking=False)
        return self._held

    def release(self) -> None:
        if self._held:
            self._lock.release()
            self._held = False


def lock_for(alias: str) -> RelayLock:
    """The relay lock backend for database `alias`."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return PostgresAdvisoryLock(alias)
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and not cast(Any, connection).is_in_memory_db():
        return FileLock(Path(name + ".relay-lock"))
    return ThreadLock()
