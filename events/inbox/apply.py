"""Applying a consumed event to a handler: exactly one effect per event and handler.

The handler's writes and its inbox row commit in one transaction, so a redelivered event is a
no-op and a failing handler leaves nothing half-written (retries and dead letters: deliver.py).
"""

from __future__ import annotations

import enum
import logging
import uuid
from typing import Any, cast

from django.db import connections, transaction
from django.db.models import Field
from django.utils import timezone

from events import faults, metrics, tracing
from events.envelope import Event
from events.models import InboxEntry
from events.outage import DatabaseUnavailable, database_unavailable
from events.registry import Handler
from events.schemas import validate

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the inbox already had it: nothing changed
    PARKED = "parked"


def apply(event: Event, handler: Handler) -> Outcome:
    """Run `handler` for `event` once, in one transaction with its inbox row.

    Returns DUPLICATE without running the handler if this event was already applied by it.
    Raises whatever the handler raises; the transaction, inbox row included, is then rolled back.
    Runs in the caller's trace context: deliver() and replay() open the event's `process` span.
    """
    validate(event.type, event.data)
    with transaction.atomic(using=handler.alias):
        return _apply_in_transaction(event, handler)


def apply_batch(pairs: list[tuple[Event, Handler]], alias: str) -> list[Outcome] | None:
    """Apply every (event, handler) pair, all writing to database `alias`, in ONE transaction:
    one commit (one WAL flush) for a whole poll of records instead of one per record, which is
    what a busy consumer mostly waits for. All or nothing: if any data fails its schema or any
    handler raises, nothing is kept and None is returned; the caller then deliver()s the pairs
    one by one, so retries, dead letters and the other records' effects work as usual.
    Raises DatabaseUnavailable if the batch failed because database `alias` is out: then no
    record is at fault, and all of them must wait for the database."""
    if strangers := sorted({h.name for _, h in pairs if h.alias != alias}):
        raise ValueError(f"{strangers} do not write to {alias}")
    spans: list[tracing.Processing] = []
    try:
        with transaction.atomic(using=alias):
            outcomes = []
            for event, handler in pairs:
                spans.append(tracing.start_processing(event, handler.name, database=alias))
                with spans[-1].current():
                    validate(event.type, event.data)
                    outcomes.append(_apply_in_transaction(event, handler))
    except Exception as exc:
        for span in spans:  # nothing of the batch was kept: deliver() makes each pair's own span
            span.finish(
                "rolled_back", error=f"batch rolled back ({type(exc).__name__}: {exc}); applied one by one"
            )
        if database_unavailable(exc, alias):
            raise DatabaseUnavailable(alias, exc) from exc
        log.info("batch of %d on %s failed (%s); applying one by one", len(pairs), alias, exc)
        return None
    for (_, handler), outcome, span in zip(pairs, outcomes, spans, strict=True):
        metrics.HANDLED.labels(handler.name, outcome.value).inc()
        span.finish(outcome.value)
    return outcomes


def _apply_in_transaction(event: Event, handler: Handler) -> Outcome:
    if not _record_in_inbox(event, handler):
        return Outcome.DUPLICATE
    faults.handler(handler.name)
    handler(event)
    return Outcome.APPLIED


def _record_in_inbox(event: Event, handler: Handler) -> bool:
    """Insert the inbox row of (event, handler); False if it is there already. ON CONFLICT DO
    NOTHING (Postgres and SQLite alike) instead of catching IntegrityError: no savepoint, so one
    statement instead of three, and a duplicate leaves the surrounding transaction usable."""
    connection = connections[handler.alias]

    def field(name: str) -> Field[Any, Any]:
        return cast(Field, InboxEntry._meta.get_field(name))

    table = connection.ops.quote_name(InboxEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event_id, handler, type, processed_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (event_id, handler) DO NOTHING",
            [
                field("event_id").get_db_prep_value(uuid.UUID(event.id), connection),
                handler.name,
                event.type,
                field("processed_at").get_db_prep_value(timezone.now(), connection),
            ],
        )
        return cursor.rowcount == 1
