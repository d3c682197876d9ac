"""Celery tasks of the identity service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken


@shared_task(name="shop.identity.tasks.flush_expired_tokens")
def flush_expired_tokens() -> int:
    """Forget refresh tokens past their expiry (and their blacklist rows): an expired token is
    refused on its expiry alone. What simplejwt's `flushexpiredtokens` command does."""
    return OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()[0]
