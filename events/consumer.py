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

from django.conf import settings
from django.db import IntegrityError, transaction
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
        try:
            with transaction.atomic(using=handler.alias):  # savepoint: a duplicate only undoes this
                InboxEntry.objects.using(handler.alias).create(
                    event_id=event.id, handler=handler.name, type=event.type
                )
        except IntegrityError:
            return Outcome.DUPLICATE
        with tracing.context(traceparent=event.traceparent, request_id=event.requestid):
            faults.handler(handler.name)
            handler(event)
    return Outcome.APPLIED


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
