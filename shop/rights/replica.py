"""Reading and writing the replica of users' rights (one table in each replica database)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from django.db import connections
from django.utils import timezone

from shop import inputs, statements
from shop.rights.models import ReplicatedRights

_COLUMNS = ("user_id", "version", "is_active", "is_staff", "password_fingerprint", "changed_at")


class Replicated(NamedTuple):
    version: int
    is_active: bool
    is_staff: bool
    password_fingerprint: str


def apply_change(data: dict[str, Any], *, using: str) -> bool:
    """Record the rights of a user_rights_changed event in database `using`, unless the replica
    already holds the same or a later version of them: idempotent, and an older event arriving
    after a newer one (a replayed dead letter) changes nothing. One UPSERT, so two applications
    racing for one user cannot both insert. Returns whether the row changed."""
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(ReplicatedRights._meta.db_table)
    columns = [quote(c) for c in _COLUMNS]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    values = [
        data["user_id"],
        data["version"],
        data["is_active"],
        data["is_staff"],
        data["password_fingerprint"],
        ReplicatedRights._meta.get_field("changed_at").get_db_prep_value(timezone.now(), connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            f" ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
            f" WHERE {table}.{columns[1]} < excluded.{columns[1]}",
            values,
        )
        return cursor.rowcount == 1


def rights_of(user_id: object, *, using: str) -> Replicated | None:
    """The replicated rights of the user a token names, or None if the replica has none (their
    rights never changed, or not yet here). On every authenticated request: one statement by
    primary key, composed once (as identity's current_rights)."""
    row = statements.row_by_id(_rights_sql(using), inputs.as_id(user_id), using=using)
    if row is None:
        return None
    version, is_active, is_staff, fingerprint = row
    return Replicated(int(version), bool(is_active), bool(is_staff), fingerprint)


@functools.cache
def _rights_sql(using: str) -> str:
    quote = connections[using].ops.quote_name
    columns = ", ".join(quote(c) for c in ("version", "is_active", "is_staff", "password_fingerprint"))
    return f"SELECT {columns} FROM {quote(ReplicatedRights._meta.db_table)} WHERE {quote('user_id')} = %s"
