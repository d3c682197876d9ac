from __future__ import annotations

from django.db import models


class ReplicatedRights(models.Model):
    """One user's rights as of their latest change event (version). No row: their rights never
    changed since the replica began, and a token's claims decide."""

    user_id = models.BigIntegerField(primary_key=True)
    version = models.BigIntegerField()
    is_active = models.BooleanField()
    is_staff = models.BooleanField()
    password_fingerprint = models.CharField(max_length=64, blank=True)
    changed_at = models.DateTimeField(help_text="when this service applied the change")

    class Meta:
        verbose_name = "replicated rights"
        verbose_name_plural = "replicated rights"

    def __str__(self) -> str:
        state = "inactive" if not self.is_active else "staff" if self.is_staff else "active"
        return f"user {self.user_id}: {state} (version {self.version})"
