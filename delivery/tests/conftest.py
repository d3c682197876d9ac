from __future__ import annotations

import pytest

from events.models import OutboxEvent


def published(*, alias: str = "delivery") -> list[tuple[str, dict]]:
    """(short type, data) of every event delivery published, in outbox order."""
    return [
        (row.type.split(".")[2], row.envelope["data"])
        for row in OutboxEvent.objects.using(alias).order_by("id")
    ]


@pytest.fixture
def events_published():
    return published
