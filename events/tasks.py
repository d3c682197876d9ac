from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from events.models import OutboxEvent
from events.settings import events_settings


@shared_task(name="events.tasks.prune_published_outbox")
def prune_published_outbox() -> int:
    """Delete outbox rows published longer ago than the retention period (never unpublished
    ones). The broker keeps the events; the outbox only has to hold them until acknowledged.
    With the local transport nothing is pruned: there the outbox is the log (events/eventlog.py).
    With a retention of 0 the relay deletes rows as it publishes them (Relay.delete_published)."""
    if events_settings.TRANSPORT == "local":
        return 0  # without a broker the outbox is the event log that projections rebuild from
    cutoff = timezone.now() - timedelta(hours=events_settings.OUTBOX_RETENTION_HOURS)
    deleted = 0
    for alias in events_settings.served_databases():
        deleted += OutboxEvent.objects.using(alias).filter(published_at__lt=cutoff).delete()[0]
    return deleted
