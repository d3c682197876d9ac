"""Dead letters: an event a handler could not apply, parked with its error in the handler's own
database, so the rest of the stream moves on; replayed (at most once) when the cause is fixed —
by `manage.py replay_dead_letters` or the admin's action."""

from __future__ import annotations

import logging
import traceback

from django.utils import timezone

from events import metrics, tracing
from events.envelope import Event
from events.inbox.apply import Outcome, apply
from events.models import DeadLetter
from events.registry import Handler

log = logging.getLogger(__name__)


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
    # A replay is one more `process` span in the event's original trace.
    with tracing.processing(event, handler.name, database=handler.alias) as span:
        span.span.set_attribute("events.replay", True)
        try:
            outcome = apply(event, handler)
        except Exception as exc:
            dead_letter.error = describe(exc)
            dead_letter.attempts += 1
            dead_letter.save(using=handler.alias, update_fields=["error", "attempts"])
            span.finish(Outcome.PARKED.value, attempts=dead_letter.attempts, error=dead_letter.error)
            raise
        span.finish(outcome.value, attempts=dead_letter.attempts + 1)
    dead_letter.status = DeadLetter.Status.REPLAYED
    dead_letter.replayed_at = timezone.now()
    dead_letter.save(using=handler.alias, update_fields=["status", "replayed_at"])
    return outcome


def describe(exc: BaseException) -> str:
    """What a dead letter records of a failure: the exception with its traceback."""
    return "".join(traceback.format_exception(exc, limit=8))
