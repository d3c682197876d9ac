"""Identity's own table besides django.contrib.auth's: each user's rights version."""

from __future__ import annotations

from django.db import models


class RightsVersion(models.Model):
    """How many times a user's rights (active, staff, password) have changed: the version of
    their latest shop.identity.user_rights_changed event, and the `rv` claim of the tokens issued
    since. A counter in the database, raised under the user row's lock, orders one user's
    changes without trusting any clock. No foreign key: it outlives a deleted user, whose
    deletion is a change too."""

    user_id = models.BigIntegerField(primary_key=True)
    version = models.BigIntegerField()

    class Meta:
        verbose_name = "rights version"

    def __str__(self) -> str:
        return f"user {self.user_id}: rights version {self.version}"
