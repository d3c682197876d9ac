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
from collections.abc import Callable, Iterable
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
from events.outbox.postgres import several_statements_per_query
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

    def relay_batch(self) -> int:
        """Send the oldest unpublished rows (up to batch_size); mark them published once the
        transport acknowledged all of them. Returns how many were sent. If send() raises, no row
        is marked and the same rows are sent again next time."""
        rows = self._select(self.batch_size)
        if not rows:
            return 0
        started = time.perf_counter()
        try:
            # Each row's `send` span continues the trace stored in the row; the records carry it.
            with tracing.sending([message for _, message in rows], database=self.alias) as messages:
                self.transport.send(messages)
        except Exception:
            metrics.RELAY_FAILURES.labels(self.alias).inc()
            raise
        faults.point("relay.sent_before_marked")
        mark_published(self.alias, [r[0] for r in rows])
        metrics.RELAY_BATCH_SECONDS.labels(self.alias).observe(time.perf_counter() - started)
        for topic, count in Counter(message.topic for message in messages).items():
            metrics.RELAYED.labels(self.alias, topic).inc(count)
        return len(rows)

    def relay_pending(
        self, stop: threading.Event | None = None, on_batch: Callable[[], None] | None = None
    ) -> int:
        """Relay batches until the outbox is empty (or `stop` is set between batches); `on_batch`
        is called after each batch sent (the loop's liveness: draining a long backlog is progress)."""
        total = 0
        while not (stop and stop.is_set()):
            sent = self.relay_batch()
            if on_batch:
                on_batch()
            total += sent
            if sent < self.batch_size:
                break
        return total


class UnpublishedRows:
    """The relay's one query, compiled by the ORM once and then run as plain SQL: a relay woken
    for every commit runs it dozens of times a second, and compiling the queryset each time cost
    more CPU than running it. Calling it returns (id, Message) of the oldest unpublished rows."""

    def __init__(self, alias: str):
        self.alias = alias
        self._sql: dict[int, tuple[str, tuple]] = {}

    def __call__(self, limit: int) -> list[tuple[int, Message]]:
        if limit not in self._sql:
            rows = OutboxEvent.objects.using(self.alias).filter(published_at__isnull=True)
            query = _message_columns(rows)[:limit].query
            self._sql[limit] = query.get_compiler(self.alias).as_sql()
        sql, params = self._sql[limit]
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params)
            return _messages(cursor.fetchall())


def mark_published(alias: str, ids: list[int]) -> None:
    """Set published_at on the rows `ids`, in one statement. On Postgres without waiting for the
    WAL flush (synchronous_commit off, for this statement's transaction only): a mark lost in a
    database crash only means those rows are sent again, which consumers' inboxes make harmless.
    SET LOCAL and the UPDATE go in one round trip — several statements in one simple query
    form one implicit transaction (psycopg's client-side binding, Django's default)."""
    connection = connections[alias]
    now = timezone.now()
    if several_statements_per_query(alias):
        table = connection.ops.quote_name(OutboxEvent._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SET LOCAL synchronous_commit = off;"
                f" UPDATE {table} SET published_at = %s WHERE id = ANY(%s)",
                [now, ids],
            )
        return
    OutboxEvent.objects.using(alias).filter(id__in=ids).update(published_at=now)


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
        (id_, Message(topic, key, _present(zip(ATTRIBUTES, attributes, strict=True)), data))
        for id_, topic, key, data, *attributes in rows
    ]


def _present(attributes: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {name: value for name, value in attributes if value is not None}


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
