"""Outbox, inbox and dead letters: migrated into every app's database (by the host's router).

None of these models has a home database: always query them with `.using(alias)`.
"""

from django.db import models
from django.db.models import Q


class OutboxEvent(models.Model):
    """An event waiting to be relayed, committed in the same transaction as its cause.

    The relay sends rows in id order and sets `published_at` only after the broker acknowledged
    them; published rows are pruned after a retention period (deleted at once with a retention of
    0 and Kafka: Relay.delete_published).
    """

    event_id = models.UUIDField(unique=True)
    topic = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    type = models.CharField(max_length=200)
    envelope = models.JSONField()  # the whole CloudEvent, structured mode
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's only query: the oldest unpublished rows. Partial, so it stays tiny.
            models.Index(fields=["id"], name="outbox_unpublished", condition=Q(published_at__isnull=True)),
            models.Index(fields=["published_at"], name="outbox_published_at"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.key} ({'published' if self.published_at else 'pending'})"


class InboxEntry(models.Model):
    """Proof that one handler applied one event; written in the handler's own transaction.

    The unique constraint is what makes redelivery harmless: a second delivery of the same
    event to the same handler fails to insert its row and changes nothing.
    """

    event_id = models.UUIDField()
    handler = models.CharField(max_length=200)
    type = models.CharField(max_length=200)
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "handler"], name="inbox_once_per_handler")]
        verbose_name_plural = "inbox entries"

    def __str__(self) -> str:
        return f"{self.type} → {self.handler}"


class DeadLetterStatus(models.TextChoices):
    PARKED = "parked"
    REPLAYED = "replayed"


class DeadLetter(models.Model):
    """An event a handler could not apply after its retries, parked with the error.

    Parking lets the rest of the stream move on; `replay_dead_letters` (or the admin action)
    applies it again once the cause is fixed. Replay goes through the inbox, so it applies at
    most once however often it is requested.
    """

    Status = DeadLetterStatus

    event_id = models.UUIDField()
    handler = models.CharField(max_length=200)
    type = models.CharField(max_length=200)
    envelope = models.JSONField()
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PARKED)
    parked_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "handler"], name="dead_letter_once_per_handler")
        ]

    def __str__(self) -> str:
        return f"{self.type} → {self.handler} ({self.status})"
