"""One active relay per database, so rows leave in id order and one aggregate's events keep their
order even with several relay replicas running: the others stand by and take over when the
holder dies. One small backend per kind of database; lock_for() picks it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.db import connections

from events.outbox.postgres import dedicated_connection
from events.settings import events_settings

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


class RelayLock:
    """Held by the one active relay of a database. acquire() never blocks."""

    def acquire(self) -> bool:
        """True if this relay holds the lock now (taken now or still held)."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class PostgresAdvisoryLock(RelayLock):
    """A session-level advisory lock on a dedicated connection: released by the server when the
    holder's connection goes away, so a standby takes over as soon as the holder dies."""

    def __init__(self, alias: str):
        self.alias = alias
        name = connections[alias].settings_dict["NAME"]
        self.key = zlib.crc32(f"{events_settings.NAME}.relay.{name}".encode())
        self._conn: psycopg.Connection[Any] | None = None

    def acquire(self) -> bool:
        try:
            if self._conn is not None and not self._conn.closed:
                # Still ours while the session lives; the probe notices a dropped connection.
                self._conn.execute("SELECT 1")
                return True
        except Exception:
            self.release()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = dedicated_connection(self.alias)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
            held = bool(row and row[0])
        except Exception as exc:
            log.warning("relay lock on %s unavailable: %s", self.alias, exc)
            self.release()
            return False
        if not held:
            self.release()
        return held

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
