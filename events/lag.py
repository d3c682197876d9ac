"""How far a consumer is behind the events published for it — for projection lag."""

from __future__ import annotations

from django.db.models import Min
from django.utils import timezone

from events.models import OutboxEvent
from events.settings import events_settings


class LagUnknown(Exception):
    """The lag cannot be told now: the broker did not answer."""


def events_behind(alias: str, topics: list[str]) -> tuple[int, float]:
    """(events published on `topics` but not yet consumed by the handlers writing to database
    `alias`, age in seconds of the oldest of them, or 0.0 if none). Raises LagUnknown if the
    broker cannot be asked."""
    if events_settings.TRANSPORT == "kafka":
        from kafka.errors import KafkaError

        from events.transports.kafka.consumer import consumer_lag

        try:
            return consumer_lag(alias, topics)
        except KafkaError as exc:
            raise LagUnknown(f"the broker did not answer: {exc}") from exc
    # Local transport: the relay hands an event to every handler as it marks it published, so
    # what is not published yet is exactly what no consumer has seen.
    count, oldest = 0, None
    for alias in events_settings.served_databases():
        pending = OutboxEvent.objects.using(alias).filter(published_at__isnull=True, topic__in=topics)
        stats = pending.aggregate(oldest=Min("created_at"))
        count += pending.count()
        if stats["oldest"] and (oldest is None or stats["oldest"] < oldest):
            oldest = stats["oldest"]
    return count, (timezone.now() - oldest).total_seconds() if oldest else 0.0
