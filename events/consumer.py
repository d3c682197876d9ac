"""Applying a consumed event to a handler: exactly one effect per event and handler.

Every transport (local and Kafka) ends here, so the monolith exercises the same delivery
semantics as the split deployment:

- the handler's writes and its inbox row commit in one transaction, so a redelivered event is a
  no-op and a failing handler leaves nothing half-written;
- a handler that keeps failing is retried with backoff, then parked as a dead letter with its
  error, so the stream moves on; a parked event can be replayed, and applies at most once;
- data that does not match its schema is parked at once: retrying cannot fix it.
"""

from __future__ import annotations

import enum
import logging
import time
import traceback
import uuid

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from events import faults, metrics, tracing
from events.envelope import Event
from events.models import DeadLetter, InboxEntry
from events.registry import Handler, handlers_for
from events.schemas import EventSchemaError, validate

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the inbox already had it: nothing changed
    PARKED = "parked"


def apply(event: Event, handler: Handler) -> Outcome:
    """Run `handler` for `event` once, in one transaction with its inbox row.

    Returns DUPLICATE without running the handler if this event was already applied by it.
    Raises whatever the handler raises; the transaction, inbox row included, is then rolled back.
    """
    validate(event.type, event.data)
    with transaction.atomic(using=handler.alias):
        return _apply_in_transaction(event, handler)


def apply_batch(pairs: list[tuple[Event, Handler]], alias: str) -> list[Outcome] | None:
    """Apply every (event, handler) pair, all writing to database `alias`, in ONE transaction:
    one commit (one WAL flush) for a whole poll of records instead of one per record, which is
    what a busy consumer mostly waits for. All or nothing: if any data fails its schema or any
    handler raises, nothing is kept and None is returned; the caller then deliver()s the pairs
    one by one, so retries, dead letters and the other records' effects work as usual."""
    if strangers := sorted({h.name for _, h in pairs if h.alias != alias}):
        raise ValueError(f"{strangers} do not write to {alias}")
    try:
        with transaction.atomic(using=alias):
            outcomes = []
            for event, handler in pairs:
                validate(event.type, event.data)
                outcomes.append(_apply_in_transaction(event, handler))
    except Exception as exc:
        log.info("batch of %d on %s failed (%s); applying one by one", len(pairs), alias, exc)
        return None
    for (_, handler), outcome in zip(pairs, outcomes, strict=True):
        metrics.HANDLED.labels(handler.name, outcome.value).inc()
    return outcomes


def _apply_in_transaction(event: Event, handler: Handler) -> Outcome:
    if not _record_in_inbox(event, handler):
        return Outcome.DUPLICATE
    with tracing.context(traceparent=event.traceparent, request_id=event.requestid):
        faults.handler(handler.name)
        handler(event)
    return Outcome.APPLIED


def _record_in_inbox(event: Event, handler: Handler) -> bool:
    """Insert the inbox row of (event, handler); False if it is there already. ON CONFLICT DO
    NOTHING (Postgres and SQLite alike) instead of catching IntegrityError: no savepoint, so one
    statement instead of three, and a duplicate leaves the surrounding transaction usable."""
    connection = connections[handler.alias]
    field = InboxEntry._meta.get_field
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


def deliver(event: Event, handler: Handler, *, attempts: int | None = None) -> Outcome:
    """apply() with retries and backoff; park the event as a dead letter if it never succeeds.

    Never raises for a handler failure: the caller (relay or consumer loop) moves on either way.
    """
    attempts = attempts or settings.EVENTS["HANDLER_ATTEMPTS"]
    backoff = settings.EVENTS["HANDLER_BACKOFF_SECONDS"]
    for attempt in range(1, attempts + 1):
        try:
            outcome = apply(event, handler)
            metrics.HANDLED.labels(handler.name, outcome.value).inc()
            return outcome
        except EventSchemaError as exc:
            return park(event, handler, error=str(exc), attempts=attempt)
        except Exception as exc:
            metrics.HANDLER_FAILURES.labels(handler.name).inc()
            log.warning(
                "handler %s failed on %s (attempt %d/%d): %s", handler.name, event.id, attempt, attempts, exc
            )
            if attempt == attempts:
                return park(event, handler, error=_describe(exc), attempts=attempt)
            time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def deliver_to_all(event: Event, services: list[str]) -> list[Outcome]:
    """Deliver one event to every handler of it in the given services."""
    return [deliver(event, handler) for handler in handlers_for(event.type, services)]


def park(event: Event, handler: Handler, *, error: str, attempts: int) -> Outcome:
    """Record `event` as a dead letter of `handler`, in the handler's database."""
    DeadLetter.objects.using(handler.alias).update_or_create(
        event_id=event.id,
        handler=handler.name,
        defaults={
            "type": event.type,
            "envelope": event.to_dict(),
            "error": error,
            "attempts": attempts,
            "status": DeadLetter.Status.PARKED,
        },
    )
    metrics.HANDLED.labels(handler.name, Outcome.PARKED.value).inc()
    metrics.DEAD_LETTERS.labels(handler.name).inc()
    log.error(
        "parked %s %s for %s after %d attempt(s): %s",
        event.type,
        event.id,
        handler.name,
        attempts,
        error.splitlines()[0] if error else "",
    )
    return Outcome.PARKED


def replay(dead_letter: DeadLetter, handler: Handler) -> Outcome:
    """Apply a parked event once more. Applies at most once, however often it is replayed.

    On success (or if the inbox shows it was applied meanwhile) the dead letter is marked
    replayed; on failure it stays parked with the new error and the failure is raised.
    """
    event = Event.from_dict(dead_letter.envelope)
    try:
        outcome = apply(event, handler)
    except Exception as exc:
        dead_letter.error = _describe(exc)
        dead_letter.attempts += 1
        dead_letter.save(using=handler.alias, update_fields=["error", "attempts"])
        raise
    dead_letter.status = DeadLetter.Status.REPLAYED
    dead_letter.replayed_at = timezone.now()
    dead_letter.save(using=handler.alias, update_fields=["status", "replayed_at"])
    return outcome


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc, limit=8))
