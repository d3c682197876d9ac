"""INSERTs the ORM spells at a cost that a hot path (an event handler, POST /api/orders/) notices.

Model.save(), create() and bulk_create() compile their statement on every call, at several times
the cost of running it (measured: bench/order_post.py, events.inbox.apply_batch). These send
the statement the ORM would, built from the model's own metadata (table, columns, each field's
defaults, auto_now stamps and conversion for the database), so they follow the model when it
changes, and run on Postgres and SQLite alike. Like QuerySet.update(), they send no save signals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connections
from django.db.models import Field, Model


def insert(instance: Model, *, using: str) -> None:
    """INSERT a new `instance` as save() would, and set its pk."""
    if not _insert_one(instance, on_conflict="", using=using):
        raise AssertionError("INSERT ... RETURNING returned no row")


def insert_unless_exists(instance: Model, *, unique: tuple[str, ...], using: str) -> bool:
    """INSERT `instance` unless a row with the same values in its `unique` fields exists (they
    must be a unique constraint or index of the table, e.g. ("order_id",)).

    One statement, `INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING pk`, where a lookup
    then a create take two, plus a savepoint's two to survive losing a race to a concurrent
    insert; a concurrent insert of the same values waits for the other transaction to end, and
    then inserts only if that one rolled back. Returns True with the instance saved (its pk
    set, as after save()), or False with nothing written and the instance left unsaved. A
    conflict on another unique constraint still raises IntegrityError.
    """
    return _insert_one(instance, on_conflict=_unless_exists(type(instance), unique, using), using=using)


def insert_many(instances: Sequence[Model], *, using: str, unless_exists: tuple[str, ...] = ()) -> None:
    """INSERT new `instances` (all of one model) by one statement, as bulk_create() would
    but without setting their pks (nothing is returned). With `unless_exists` (a unique
    constraint's fields, as insert_unless_exists()'s `unique`), those whose values there exist
    are skipped, as bulk_create(ignore_conflicts=True) would, but only on that constraint."""
    model = type(instances[0])
    connection = connections[using]
    fields = _inserted_fields(model)
    sql = _insert_sql(model, fields, len(instances), using)
    if unless_exists:
        sql += _unless_exists(model, unless_exists, using)
    params = [value for instance in instances for value in _values(instance, fields, using)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert_one(instance: Model, *, on_conflict: str, using: str) -> bool:
    model = type(instance)
    connection = connections[using]
    fields = _inserted_fields(model)
    pk = connection.ops.quote_name(_column(model._meta.pk))
    sql = f"{_insert_sql(model, fields, 1, using)}{on_conflict} RETURNING {pk}"
    with connection.cursor() as cursor:
        cursor.execute(sql, _values(instance, fields, using))
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = using
    return True


def _unless_exists(model: type[Model], unique: tuple[str, ...], using: str) -> str:
    quote = connections[using].ops.quote_name
    return f" ON CONFLICT ({', '.join(quote(_column(_field(model, name))) for name in unique)}) DO NOTHING"


def _inserted_fields(model: type[Model]) -> list[Field[Any, Any]]:
    meta = model._meta
    return [f for f in meta.concrete_fields if f is not meta.auto_field]


def _insert_sql(model: type[Model], fields: list[Field[Any, Any]], rows: int, using: str) -> str:
    quote = connections[using].ops.quote_name
    row = f"({', '.join(['%s'] * len(fields))})"
    return "INSERT INTO {} ({}) VALUES {}".format(
        quote(model._meta.db_table), ", ".join(quote(_column(f)) for f in fields), ", ".join([row] * rows)
    )


def _values(instance: Model, fields: list[Field[Any, Any]], using: str) -> list[Any]:
    # pre_save() stamps what save() would (auto_now, auto_now_add), on the instance as well.
    connection = connections[using]
    return [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    return cast(Field, model._meta.get_field(name))


def _column(field: Field[Any, Any] | None) -> str:
    if field is None or field.column is None:
        raise ValueError(f"{field} has no column")
    return field.column
