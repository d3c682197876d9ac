"""Publishing: an event is an outbox row committed with the change that caused it."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connections
from django.utils import timezone

from events import tracing
from events.envelope import Event
from events.models import OutboxEvent
from events.outbox import wakeup
from events.schemas import topic_for, validate


class PublishOutsideTransaction(RuntimeError):
    """publish() was called outside a transaction on the database it writes to."""


def publish(event_type: str, *, key: int | str, data: dict[str, Any], using: str) -> Event:
    """Record `event_type` with `data` in the outbox of database `using`.

    Must be called inside `transaction.atomic(using=using)`: the event then commits or rolls
    back together with the business change, so no change is ever left without its event and no
    event announces a change that did not happen. Nothing is sent here; the relay sends the row
    after commit. `key` is the aggregate id: events of one aggregate keep their order.
    Raises EventSchemaError if `data` does not match the type's schema.
    """
    if not connections[using].in_atomic_block:
        raise PublishOutsideTransaction(
            f"publish({event_type!r}) must run inside transaction.atomic(using={using!r})"
        )
    validate(event_type, data)
    event_id, topic, subject = str(uuid.uuid4()), topic_for(event_type), str(key)
    # The row stores the context of this `create` span: the relay's `send` span continues it,
    # whenever and wherever the row is sent.
    with tracing.creating(
        event_type, topic=topic, event_id=event_id, key=subject, database=using
    ) as traceparent:
        event = Event(
            id=event_id,
            type=event_type,
            source=source_of(event_type),
            subject=subject,
            data=data,
            traceparent=traceparent,
            requestid=tracing.request_id_var.get(),
        )
        _insert(event, topic, using)
    wakeup.on_publish(using)  # the relay sends it the moment this commits, not at its next poll
    return event


def _insert(event: Event, topic: str, using: str) -> None:
    """The outbox row, by one plain INSERT (publish() is on every write's path, and the ORM's
    create() cost more than the statement). On Postgres the same statement calls pg_notify(),
    which wakes relays in other processes when the transaction commits: one round trip, and one
    statement that the connection prepares once (shop/databases.py)."""
    connection = connections[using]
    fields = {f.name: f for f in OutboxEvent._meta.concrete_fields}
    values = {
        "event_id": uuid.UUID(event.id),
        "topic": topic,
        "key": event.subject,
        "type": event.type,
        "envelope": event.to_dict(),
        "created_at": timezone.now(),
    }
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        connection.ops.quote_name(OutboxEvent._meta.db_table),
        ", ".join(connection.ops.quote_name(fields[name].column or name) for name in values),
        ", ".join(["%s"] * len(values)),
    )
    params = [fields[name].get_db_prep_save(value, connection) for name, value in values.items()]
    if wakeup.notifies(using):
        sql = f"WITH inserted AS ({sql} RETURNING 1) SELECT pg_notify(%s, '') FROM inserted"
        params.append(wakeup.channel())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def source_of(event_type: str) -> str:
    """The CloudEvents `source` of a type `<system>.<app>.<fact>.v<N>`: `/<system>/<app>`."""
    system, app = event_type.split(".")[:2]
    return f"/{system}/{app}"
