"""Delivering a consumed event: apply() with retries and backoff, and a dead letter for what never
applies, so one bad event never blocks the stream. Data that does not match its schema is parked
at once: retrying cannot fix it."""

from __future__ import annotations

import logging
import time

from events import metrics, tracing
from events.envelope import Event
from events.inbox.apply import Outcome, apply
from events.inbox.dead_letters import describe, park
from events.outage import DatabaseUnavailable, database_unavailable
from events.registry import Handler, handlers_for
from events.schemas import EventSchemaError
from events.settings import events_settings

log = logging.getLogger(__name__)


def deliver(event: Event, handler: Handler, *, attempts: int | None = None) -> Outcome:
    """apply() with retries and backoff; park the event as a dead letter if it never succeeds.

    Never raises for a handler failure: the caller (relay or consumer loop) moves on either way.
    Raises DatabaseUnavailable when the handler's database is out (a restart, a network
    partition): that is no fault of the event or the handler, so it is neither retried to
    exhaustion nor parked (parking would fail too); the caller keeps the event until the
    database is back (the consumer re-polls it, the in-process relay keeps its outbox row).
    """
    with tracing.processing(event, handler.name, database=handler.alias) as span:
        outcome, attempt, error = _deliver(event, handler, attempts or events_settings.HANDLER_ATTEMPTS)
        span.finish(outcome.value, attempts=attempt, error=error)
        return outcome


def _deliver(event: Event, handler: Handler, attempts: int) -> tuple[Outcome, int, str | None]:
    """(outcome, attempts made, the error a parked event was parked with)."""
    backoff = events_settings.HANDLER_BACKOFF_SECONDS
    for attempt in range(1, attempts + 1):
        try:
            outcome = apply(event, handler)
            metrics.HANDLED.labels(handler.name, outcome.value).inc()
            return outcome, attempt, None
        except EventSchemaError as exc:
            return park(event, handler, error=str(exc), attempts=attempt), attempt, str(exc)
        except Exception as exc:
            if database_unavailable(exc, handler.alias):
                raise DatabaseUnavailable(handler.alias, exc) from exc
            metrics.HANDLER_FAILURES.labels(handler.name).inc()
            log.warning(
                "handler %s failed on %s (attempt %d/%d): %s", handler.name, event.id, attempt, attempts, exc
            )
            if attempt == attempts:
                error = describe(exc)
                return park(event, handler, error=error, attempts=attempt), attempt, error
            time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def deliver_to_all(event: Event, services: list[str]) -> list[Outcome]:
    """Deliver one event to every handler of it in the given services."""
    return [deliver(event, handler) for handler in handlers_for(event.type, services)]
