"""Reads of the write side. The API's reads come from the read side instead (orders/read/);
what a write answers with comes from here."""

from __future__ import annotations

from events.models import OutboxEvent
from events.schemas import topic_for
from orders.apps import ALIAS
from orders.event_types import ORDER_PLACED


def get_last_event_id(*, order_id: int) -> str | None:
    """The id of the newest event recorded for this order: the consistency token a write hands
    the client, which a read can then wait for (orders/read/queries.py wait_for_event)."""
    event_id = (
        OutboxEvent.objects.using(ALIAS)
        .filter(topic=topic_for(ORDER_PLACED), key=str(order_id))
        .order_by("-id")
        .values_list("event_id", flat=True)
        .first()
    )
    return str(event_id) if event_id else None
