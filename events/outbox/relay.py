"""The relay: moves committed outbox rows to the transport, in order, at least once.

One active relay per database (events/outbox/locks.py), so rows leave in id order and one
aggregate's events keep their order even with several replicas running; the others wait as
standbys and take over when the holder dies. Woken at commit (events/outbox/wakeup.py), it
also polls as a safety net.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connections
from django.db.models import Min, QuerySet
from django.db.models.fields.json import KT
from django.utils import timezone

from events import faults, heartbeat, metrics, tracing
from events.envelope import ATTRIBUTES
from events.models import OutboxEvent
from events.outage import Outage, database_reachable, reset_connection
from events.outbox.locks import lock_for
from events.outbox.wakeup import listen as listen_for_commits
from events.settings import events_settings
from events.transports import Message, Transport

log = logging.getLogger(__name__)


class Relay:
    """Relays one database's outbox through one transport."""

    def __init__(self, alias: str, transport: Transport, batch_size: int | None = None):
        self.alias = alias
        self.transport = transport
        self.batch_size = batch_size or events_settings.RELAY_BATCH_SIZE
        self._select = UnpublishedRows(alias)
        # A transport whose send() may run in another thread than the database work (it touches
        # no database: Kafka) lets a busy outbox be pipelined; the others send and mark in turn.
        self.pipelined = bool(getattr(transport, "pipelined", False))
        # With no retention asked for (EVENTS_OUTBOX_RETENTION_HOURS=0) and a broker that keeps
        # the events, an acknowledged row has nothing left to do: it is deleted instead of marked.
        # Never with the local transport, where the outbox is the log (events/eventlog.py).
        self.delete_published = events_settings.OUTBOX_RETENTION_HOURS == 0 and bool(
            getattr(transport, "keeps_events", False)
        )

    def relay_batch(self) -> int:
        """Send the oldest unpublished rows (up to batch_size); mark them published once the
        transport acknowledged all of them. Returns how many were sent. If send() raises, no row
        is marked and the same rows are sent again next time."""
        rows = self._select(self.batch_size)
        if rows:
            self._mark(rows, self._send(rows))
        return len(rows)

    def relay_pending(
        self, stop: threading.Event | None = None, on_batch: Callable[[], None] | None = None
    ) -> int:
        """Relay batches until the outbox is empty (or `stop` is set between batches); `on_batch`
        is called after each batch sent and marked (the loop's liveness: draining a long backlog
        is progress). Returns how many rows were sent and marked.

        Guarantees, pipelined or not: a row is marked only after the transport acknowledged it;
        a batch is sent only after the previous one was acknowledged in full, so a failure never
        reorders first deliveries; if anything fails, the exception propagates with no
        unacknowledged row marked (they are sent again: at least once)."""
        total = 0
        while not (stop and stop.is_set()):
            rows = self._select(self.batch_size)
            if len(rows) == self.batch_size and self.pipelined:
                return total + self._relay_pipelined(rows, stop, on_batch)
            # A batch that is not full (the low-rate path: one row per wake-up) is sent and marked
            # in turn, in this thread: pipelining buys nothing there and would cost a thread.
            if rows:
                self._mark(rows, self._send(rows))
                if on_batch:
                    on_batch()
            total += len(rows)
            if len(rows) < self.batch_size:
                break
        return total

    def _relay_pipelined(
        self,
        rows: list[tuple[int, Message]],
        stop: threading.Event | None,
        on_batch: Callable[[], None] | None,
    ) -> int:
        """Drain a busy outbox with the database work beside the sends: while batch N is in
        flight (sent from a helper thread), this thread marks batch N-1 (acknowledged) and reads
        batch N+1. The database stays on this thread's connection (the one reset_connection()
        drops after a failure); psycopg releases the GIL while it waits for the server, so the
        producer runs meanwhile. Batch N+1 is sent only once N is acknowledged in full, and N is
        marked only then. If a send, a mark or a read fails, the batch in flight is waited for
        (SEND_TIMEOUT_SECONDS at most) but not marked, and the exception propagates: every row
        not marked is sent again (a resend of N after N+1 is a duplicate, which inboxes ignore)."""
        total = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"relay-{self.alias}") as sender:
            in_flight = sender.submit(self._send, rows)
            while True:
                following: list[tuple[int, Message]] = []
                if len(rows) == self.batch_size and not (stop and stop.is_set()):
                    # Read batch N+1 while N is in flight, so past N's last id: N is not marked
                    # yet. A row with a lower id whose transaction commits late is not lost: the
                    # next SELECT without that cursor (the next relay_pending) picks it up.
                    following = self._select(self.batch_size, after=rows[-1][0])
                sent = in_flight.result()  # raises if N failed: nothing of N is marked
                if stop and stop.is_set():  # asked while N was in flight: N is the last one
                    following = []
                if following:
                    in_flight = sender.submit(self._send, following)
                self._mark(rows, sent)  # N acknowledged; marked while N+1 is in flight
                total += len(rows)
                if on_batch:
                    on_batch()
                if not following:
                    return total
                rows = following

    def _send(self, rows: list[tuple[int, Message]]) -> tuple[list[Message], float]:
        """Send the rows' messages and wait for every acknowledgement (raises otherwise).
        Returns the messages as sent and when sending started, for _mark()."""
        started = time.perf_counter()
        try:
            # Each row's `send` span continues the trace stored in the row; the records carry it.
            with tracing.sending([message for _, message in rows], database=self.alias) as messages:
                self.transport.send(messages)
        except Exception:
            metrics.RELAY_FAILURES.labels(self.alias).inc()
            raise
        return messages, started

    def _mark(self, rows: list[tuple[int, Message]], sent: tuple[list[Message], float]) -> None:
        """Mark acknowledged rows published (or delete them: delete_published), and count them."""
        messages, started = sent
        faults.point("relay.sent_before_marked")
        ids = [row[0] for row in rows]
        if self.delete_published:
            delete_published(self.alias, ids)
        else:
            mark_published(self.alias, ids)
        metrics.RELAY_BATCH_SECONDS.labels(self.alias).observe(time.perf_counter() - started)
        for topic, count in Counter(message.topic for message in messages).items():
            metrics.RELAYED.labels(self.alias, topic).inc(count)


class UnpublishedRows:
    """The relay's one query, compiled by the ORM once and then run as plain SQL: a relay woken
    for every commit runs it dozens of times a second, and compiling the queryset each time cost
    more CPU than running it. Calling it returns (id, Message) of the oldest unpublished rows;
    with `after`, of those past that id (the next batch, read while a full one is in flight)."""

    # Compiled in place of `after`, then replaced by it: ids are positive.
    _AFTER = -1

    def __init__(self, alias: str):
        self.alias = alias
        self._sql: dict[int, tuple[str, tuple | None]] = {}
        self._cursored: dict[int, tuple[str, list, int]] = {}

    def __call__(self, limit: int, after: int | None = None) -> list[tuple[int, Message]]:
        params: Sequence[Any] | None
        if after is None:
            if limit not in self._sql:
                self._sql[limit] = self._bound(*self._compile(limit))
            sql, params = self._sql[limit]
        else:
            if limit not in self._cursored:
                sql, params = self._compile(limit, id__gt=self._AFTER)
                self._cursored[limit] = (sql, list(params), list(params).index(self._AFTER))
            sql, params, position = self._cursored[limit]
            params = [*params[:position], after, *params[position + 1 :]]
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                from psycopg.pq import Format

                # Rows in binary format: psycopg takes each value as it comes instead of parsing
                # text. A 500-row batch, measured: 3.3 -> 2.6 us of CPU per row on the relay's
                # thread (the one that paces a busy drain), the SELECT's wall time -25%.
                cursor.cursor.format = Format.BINARY
            cursor.execute(sql, params)
            return _messages(cursor.fetchall())

    def _compile(self, limit: int, **where: Any) -> tuple[str, tuple]:
        rows = OutboxEvent.objects.using(self.alias).filter(published_at__isnull=True, **where)
        return _message_columns(rows)[:limit].query.get_compiler(self.alias).as_sql()

    def _bound(self, sql: str, params: tuple) -> tuple[str, tuple | None]:
        connection = connections[self.alias]
        if connection.vendor == "postgresql":
            # The parameters are constants (the envelope's key names): bound into the SQL once,
            # not converted again by psycopg on every wake-up.
            ops: Any = connection.ops  # compose_sql() is Postgres's own, not in the base class
            return ops.compose_sql(sql, params), None
        return sql, params


def mark_published(alias: str, ids: list[int]) -> None:
    """Set published_at on the rows `ids`, in one statement (on Postgres without waiting for the
    WAL flush: _done_on_postgres()). published_at is the server's time of the statement."""
    if not _done_on_postgres(
        alias, "UPDATE {table} SET published_at = statement_timestamp() FROM {async_commit}", ids
    ):
        OutboxEvent.objects.using(alias).filter(id__in=ids).update(published_at=timezone.now())


def delete_published(alias: str, ids: list[int]) -> None:
    """Delete the acknowledged rows `ids`, in one statement: what the relay does instead of
    marking them when published rows are not kept. A quarter of the mark's Postgres time (the
    mark writes a new version of each row and its index entries; a delete only stamps the row),
    measured in bench/RESULTS.md."""
    if not _done_on_postgres(alias, "DELETE FROM {table} USING {async_commit}", ids):
        OutboxEvent.objects.using(alias).filter(id__in=ids).delete()


def _done_on_postgres(alias: str, statement: str, ids: list[int]) -> bool:
    """Run `statement` on the outbox rows `ids` if `alias` is Postgres (True), else do nothing
    (False: the caller uses the ORM).
    Its transaction does not wait for the WAL flush (synchronous_commit off, set by set_config()
    in the statement itself, so one round trip): a mark or delete lost in a database crash only
    means those rows are sent again, which consumers' inboxes make harmless."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return False
    table = connection.ops.quote_name(OutboxEvent._meta.db_table)
    async_commit = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
    with connection.cursor() as cursor:
        cursor.execute(
            statement.format(table=table, async_commit=async_commit) + " WHERE id = ANY(%s::bigint[])",
            # The array as one text literal: psycopg's list dumper converts the 500 ids of a
            # batch one by one in Python (~0.3 ms per batch), str.join does it in C.
            ["{" + ",".join(map(str, ids)) + "}"],
        )
    return True


def outbox_messages(rows: QuerySet[OutboxEvent], limit: int) -> list[tuple[int, Message]]:
    """(id, message) of the first `limit` of `rows` in id order. The envelope comes apart in the
    database: each attribute as text, the data as JSON text that the Kafka transport forwards
    without decoding and encoding it again."""
    return _messages(_message_columns(rows)[:limit])


def _message_columns(rows: QuerySet[OutboxEvent]) -> QuerySet:
    return rows.order_by("id").values_list(
        "id", "topic", "key", KT("envelope__data"), *(KT(f"envelope__{a}") for a in ATTRIBUTES)
    )


def _messages(rows: Iterable[tuple]) -> list[tuple[int, Message]]:
    return [
        (id_, Message(topic, key, _present(attributes), data)) for id_, topic, key, data, *attributes in rows
    ]


def _present(values: list[Any]) -> dict[str, Any]:
    """The attributes that are set (ATTRIBUTES' values in order, None where absent)."""
    if None in values:
        return {name: value for name, value in zip(ATTRIBUTES, values, strict=True) if value is not None}
    return dict(zip(ATTRIBUTES, values, strict=True))


def backlog(alias: str) -> tuple[int, float | None]:
    """(unpublished rows, age in seconds of the oldest one) of one database's outbox."""
    pending = OutboxEvent.objects.using(alias).filter(published_at__isnull=True)
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    count = pending.count()
    age = (timezone.now() - oldest).total_seconds() if oldest else None
    metrics.OUTBOX_BACKLOG.labels(alias).set(count)
    metrics.OUTBOX_OLDEST_AGE.labels(alias).set(age or 0)
    return count, age


def relay_until_empty(aliases: Iterable[str], transport: Transport, max_rounds: int = 1000) -> int:
    """Relay every given outbox until all are empty, including events that handlers publish
    while it runs (with the local transport, one event's effects may cause the next)."""
    relays = [Relay(alias, transport) for alias in aliases]
    total = 0
    for _ in range(max_rounds):
        sent = sum(relay.relay_pending() for relay in relays)
        total += sent
        if not sent:
            return total
    raise RuntimeError(f"outboxes still not empty after {max_rounds} rounds: an event loop?")


def run(
    aliases: list[str],
    transport: Transport,
    *,
    stop: threading.Event,
    wake: threading.Event,
    poll_seconds: float | None = None,
    listen: bool = False,
) -> None:
    """The relay loop: for each database whose lock it holds, relay until empty; then sleep until
    woken (a commit) or the poll interval passes. Standby for databases whose lock another
    relay holds. With `listen`, Postgres NOTIFY wakes it within milliseconds of a commit; the
    poll stays as the safety net. Returns when `stop` is set, after the batch in flight."""
    poll = poll_seconds if poll_seconds is not None else events_settings.RELAY_POLL_SECONDS
    relays = {alias: Relay(alias, transport) for alias in aliases}
    locks = {alias: lock_for(alias) for alias in aliases}
    active: set[str] = set()
    # Woken by NOTIFY, look only at the outboxes that notified: one commit used to cost a lock
    # probe and a SELECT on every database. Databases without a listener (the in-process relay
    # listens to none) and every poll timeout still look at all of them.
    notified: set[str] = set()
    listening: set[str] = set()
    if listen:
        for alias in aliases:
            if connections[alias].vendor == "postgresql":
                listening.add(alias)
                threading.Thread(
                    target=listen_for_commits, args=(alias, wake, stop, notified), daemon=True
                ).start()
    # Per database: its run of failures (backoff, logging) and whether its failures are excused.
    outages = {alias: Outage(f"relay for {alias}", log) for alias in aliases}
    liveness = {alias: heartbeat.Liveness() for alias in aliases}
    retry_at = dict.fromkeys(aliases, 0.0)

    def beat() -> None:
        if all(lv.alive() for lv in liveness.values()):
            heartbeat.beat()

    def progressed(alias: str) -> None:
        liveness[alias].progressed()
        beat()

    woken = False
    try:
        while not stop.is_set():
            beat()
            wake.clear()
            due = set(aliases) - listening if woken else set(aliases)
            while notified:  # set.pop() is atomic: an alias notified meanwhile waits for the next round
                due.add(notified.pop())
            now = time.monotonic()
            due |= {alias for alias, at in retry_at.items() if at and now >= at}
            for alias, relay in relays.items():
                if alias not in due or now < retry_at[alias]:
                    continue
                try:
                    if not locks[alias].acquire():
                        if alias in active:
                            log.warning("relay for %s lost its lock; standing by", alias)
                            active.discard(alias)
                        liveness[alias].progressed()  # a standby has nothing to do
                        continue
                    if alias not in active:
                        log.info("relay for %s is active", alias)
                        active.add(alias)
                    relay.relay_pending(stop, on_batch=functools.partial(progressed, alias))
                except Exception as exc:
                    # Database restarting or unreachable, broker down or frozen: the rows wait in
                    # the outbox. Drop the (possibly dead) connection, so the next try opens a new
                    # one, and try again after a backoff that other databases do not wait for.
                    reset_connection(alias)
                    liveness[alias].failed(dependency_out=_dependency_out(alias, transport))
                    retry_at[alias] = time.monotonic() + outages[alias].failed(exc)
                else:
                    retry_at[alias] = 0.0
                    liveness[alias].progressed()
                    outages[alias].recovered()
            # Sleep until a commit wakes us, the poll interval passes or a retry is due. A commit
            # does not retry a database that is backing off (during a broker outage commits go
            # on, and each would be one more send to a broker that is not there).
            retries = [at - time.monotonic() for at in retry_at.values() if at]
            woken = wake.wait(max(0.0, min([poll, *retries])))
    finally:
        for lock in locks.values():
            lock.release()


def _dependency_out(alias: str, transport: Transport) -> bool:
    """Whether a failed relay turn is explained by an outage, asked afresh: the database does not
    answer a new connection, or the transport's other end does not (Transport.reachable)."""
    if not database_reachable(alias):
        return True
    reachable = getattr(transport, "reachable", None)
    return reachable is not None and not reachable()
