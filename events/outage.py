"""Riding out an outage in a long-running loop (relay, consumer, LISTEN thread): a database that
restarts or cannot be reached, a broker that is down or frozen, for any length of time.

A loop that fails because a dependency is out does three things, and this module holds them:

- it drops Django's connection to that database (reset_connection): Django checks a connection's
  health only at the start and end of an HTTP request, so a loop that keeps its dead connection
  fails with "the connection is closed" for ever, even once the server is back;
- it waits, longer after each failure (Outage.failed: 0.5 s doubling to 5 s, so it is back
  within seconds of the dependency), and logs the outage once when it starts, then every 30 s
  while it lasts, then once more when it ends: not a line per turn;
- it tells an outage from a bug by asking the dependency afresh (database_reachable): a handler
  whose own database is down is not a failing handler (DatabaseUnavailable: its records wait,
  they are neither retried to exhaustion nor parked), and a loop stuck while its dependencies
  answer is not excused by them (events/heartbeat.py: Liveness).
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import InterfaceError, OperationalError, connections

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """A handler could not be applied because its database does not answer: not the handler's
    fault. The event must wait for the database (a consumer re-polls its records, the relay
    keeps its outbox rows), never be parked as a dead letter."""

    def __init__(self, alias: str, cause: BaseException):
        super().__init__(f"database {alias} unavailable: {cause}")
        self.alias = alias


def database_reachable(alias: str) -> bool:
    """Whether database `alias` answers a fresh connection now (not Django's connection of this
    thread, which may be the broken one). SQLite is a file: always reachable."""
    if connections[alias].vendor != "postgresql":
        return True
    from events.outbox.postgres import dedicated_connection

    try:
        with dedicated_connection(alias) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def database_unavailable(exc: BaseException, alias: str) -> bool:
    """Whether `exc` is database `alias` being out rather than a failure of the code that ran:
    a connection-level error (OperationalError, InterfaceError) and a fresh connection fails
    too. A deadlock or a serialization failure is an OperationalError as well, but the server
    answers: that one is retried as usual."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    return isinstance(exc, (OperationalError, InterfaceError)) and not database_reachable(alias)


def reset_connection(alias: str) -> None:
    """Close this thread's Django connection to `alias` (after a failure), so the next query opens
    a new one. Never inside a transaction: the atomic block that owns it must end first."""
    connection = connections[alias]
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except Exception as exc:  # closing a connection to a server that went away may fail too
        log.debug("closing the connection to %s failed: %s", alias, exc)


class Outage:
    """One loop's run of failures on one dependency: how long to wait before the next try, and
    log lines at a sensible rate. failed() after each failure, recovered() after a success."""

    FIRST_DELAY = 0.5
    LONGEST_DELAY = 5.0  # the loop is back at most this long after its dependency is
    LOG_EVERY = 30.0

    def __init__(self, what: str, logger: logging.Logger | None = None):
        self.what = what
        self.log = logger or log
        self.since: float | None = None  # time.monotonic() of the first failure of this run
        self.failures = 0
        self._logged_at = 0.0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns the seconds to wait before trying again."""
        now = time.monotonic()
        self.failures += 1
        if self.since is None:
            self.since = self._logged_at = now
            self.log.warning("%s failed, retrying until it works: %s", self.what, _first_line(exc))
        elif now - self._logged_at >= self.LOG_EVERY:
            self._logged_at = now
            self.log.warning(
                "%s still failing after %.0f s (%d tries): %s",
                self.what,
                now - self.since,
                self.failures,
                _first_line(exc),
            )
        return min(self.LONGEST_DELAY, self.FIRST_DELAY * 2 ** (self.failures - 1))

    def recovered(self) -> None:
        """Record a success: logs the end of the outage, if there was one."""
        if self.since is not None:
            self.log.warning(
                "%s works again after %.1f s (%d failed tries)",
                self.what,
                time.monotonic() - self.since,
                self.failures,
            )
        self.since = None
        self.failures = 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


class RepeatedLogFilter(logging.Filter):
    """Lets through one record per logger and message template every `seconds`, for loggers
    under `prefix`; the next one through says how many it held back. For kafka-python, which
    logs every reconnection attempt (a few lines a second per client with the backoff chosen
    in events/transports/kafka) for as long as the broker is away. Attach it to a handler:
    a filter on a logger does not see its children's records."""

    def __init__(self, prefix: str = "kafka.", seconds: float = 30.0):
        super().__init__()
        self.prefix = prefix
        self.seconds = seconds
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        with self._lock:
            last, held = self._seen.get(key, (-self.seconds, 0))
            if now - last < self.seconds:
                self._seen[key] = (last, held + 1)
                return False
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {self.seconds:.0f} s not logged]"
        return True
