"""Statements the ORM spells at a cost that a hot path (an event handler) notices, written once.

Each is built from the model's own metadata (table, columns, each field's conversion for the
database), so it follows the model when it changes, and runs on Postgres and SQLite alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connections
from django.db.models import Field, Model


def insert_unless_exists(instance: Model, *, unique: tuple[str, ...], using: str) -> bool:
    """INSERT `instance` unless a row with the same values in its `unique` fields exists (they
    must be a unique constraint or index of the table, e.g. ("order_id",)).

    One statement, `INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING pk`, where a lookup
    then a create take two, plus a savepoint's two to survive losing a race to a concurrent
    insert; a concurrent insert of the same values waits for the other transaction to end, and
    then inserts only if that one rolled back. Returns True with the instance saved (its pk
    set, as after save()), or False with nothing written and the instance left unsaved. A
    conflict on another unique constraint still raises IntegrityError. Like QuerySet.update(),
    it sends no save signals.
    """
    model = type(instance)
    meta = model._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
    sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING RETURNING {}".format(
        quote(meta.db_table),
        ", ".join(quote(_column(f)) for f in fields),
        ", ".join(["%s"] * len(fields)),
        ", ".join(quote(_column(_field(model, name))) for name in unique),
        quote(_column(meta.pk)),
    )
    # pre_save() fills what save() would (auto_now_add, auto_now) on the instance as well.
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = using
    return True


def insert_rows(model: type[Model], columns: list[str], rows: Sequence[Sequence[Any]], *, using: str) -> None:
    """INSERT `rows` (values in the order of `columns`, field or attribute names such as
    `order` or `order_id`) into `model`'s table by one statement, each value converted by its
    field as save() would. Nothing else of save(): no defaults, no pre_save(), no pk returned.
    bulk_create() and create() compiled the same statement at several times its cost."""
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [_field(model, name) for name in columns]
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = "INSERT INTO {} ({}) VALUES {}".format(
        quote(model._meta.db_table),
        ", ".join(quote(_column(field)) for field in fields),
        ", ".join([row] * len(rows)),
    )
    params = [
        field.get_db_prep_save(value, connection)
        for values in rows
        for field, value in zip(fields, values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    return cast(Field, model._meta.get_field(name))


def _column(field: Field[Any, Any] | None) -> str:
    if field is None or field.column is None:
        raise ValueError(f"{field} has no column")
    return field.column
