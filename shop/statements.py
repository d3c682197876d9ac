"""Statements the ORM spells at a cost that a hot path (an event handler, POST /api/orders/)
notices, written out once, here: INSERTs, the UPDATE of some columns of one row, and the reading
of a row fetched with raw SQL.

Model.save(), create(), bulk_create(), QuerySet.update() and get() compile their statement on
every call, at several times the cost of running it (measured: bench/order_post.py,
bench/apply_events.py, events.inbox.apply_batch). These send the statement the ORM would, built
from the model's own metadata (table, columns, each field's defaults, auto_now stamps and
conversion to and from the database), so they follow the model when it changes, and run on
Postgres and SQLite alike. Like QuerySet.update(), they send no save signals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.expressions import Col

M = TypeVar("M", bound=Model)
T = TypeVar("T")


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
    params = [value for instance in instances for value in _values(instance, fields, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def update(
    instance: Model,
    fields: Sequence[str],
    *,
    where: Mapping[str, Any] | None = None,
    returning: Sequence[str] = (),
    using: str,
) -> bool:
    """UPDATE `instance`'s row (found by its pk) as save(update_fields=fields) would: SET each of
    `fields` to the instance's value, prepared for the database as save() prepares it, auto_now
    fields among them stamped by pre_save() (on the instance as well). Returns whether the row
    was updated; False: there is no such row, or it does not meet `where`, and nothing is written.

    Beyond save(), in the same one statement:
    - `where`: conditions the row must also meet, as filter() spells them, with the lookups
      exact, in and isnull ({"status__in": [...], "shipment_id__isnull": True}). The UPDATE
      checks them on the row it changes, so a concurrent change that makes them false is never
      overwritten: on Postgres, an UPDATE that meets a row another transaction is changing waits
      for it to end, then checks them again on the row as that transaction left it. An empty
      `in` matches nothing: False, and nothing is sent (as filter(x__in=[]).update()).
    - `returning`: fields read back from the row as the UPDATE left it (RETURNING) and set on the
      instance, converted as the ORM reads them (as from_row() does); untouched when False.
    """
    model = type(instance)
    connection = connections[using]
    conditions, operands = _where(where or {})
    if conditions is None:
        return False
    shape = (tuple(fields), conditions, tuple(returning))
    sql, changed, compared = _once(
        connection, ("update", model, *shape), lambda: _update_sql(model, *shape, connection)
    )
    values = _values(instance, changed, connection, add=False)
    params = [
        f.get_db_prep_value(value, connection)
        for f, value in zip(compared, [instance.pk, *operands], strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *params])
        if returning:
            row = cursor.fetchone()
            if row is None:
                return False
            attnames, read = _read(model, tuple(returning), row, connection)
            for attname, value in zip(attnames, read, strict=True):
                setattr(instance, attname, value)
        elif cursor.rowcount < 1:
            return False
    instance._state.adding = False
    instance._state.db = using
    return True


def row_by_id(sql: str, pk: int | None, *, using: str) -> tuple[Any, ...] | None:
    """The row `sql` (one parameter: a primary key) reads for `pk` on `using`; None if no row has
    it, or if `pk` is None (shop.inputs.as_id: no id at all). For the per-request lookups,
    whose statement is composed once (the ORM's lookup cost ~0.75 ms, mostly compiling it)."""
    if pk is None:
        return None
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [pk])
        return cursor.fetchone()


def from_row(model: type[M], names: Sequence[str], row: Sequence[Any], *, using: str) -> M:
    """The instance of `model` the ORM would make of `row`, read with raw SQL on `using`: the
    values of the fields `names` (in the row's order), each converted from what the database
    sent by the backend's and the field's converters, as a QuerySet converts it (SQLite's text
    datetimes and decimals, JSON text, ...), then given to Model.from_db(). Fields not in
    `names` are deferred (read on first access), as after only(*names)."""
    attnames, values = _read(model, tuple(names), row, connections[using])
    return model.from_db(using, attnames, values)


def _insert_one(instance: Model, *, on_conflict: str, using: str) -> bool:
    model = type(instance)
    connection = connections[using]
    fields = _inserted_fields(model)
    pk = connection.ops.quote_name(_column(model._meta.pk))
    sql = f"{_insert_sql(model, fields, 1, using)}{on_conflict} RETURNING {pk}"
    with connection.cursor() as cursor:
        cursor.execute(sql, _values(instance, fields, connection))
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = using
    return True


# A condition of update()'s `where`, as the statement's text depends on it: (field name, "exact"
# or "in", how many operands) or (field name, "isnull", True or False).
_Condition = tuple[str, str, int | bool]


def _where(where: Mapping[str, Any]) -> tuple[tuple[_Condition, ...] | None, list[Any]]:
    """`where` (filter()'s spelling, lookups exact, in and isnull) as conditions and their
    operands, in order; None if they can match no row (an empty `in`)."""
    conditions: list[_Condition] = []
    operands: list[Any] = []
    for key, value in where.items():
        name, _, lookup = key.partition("__")
        if lookup in ("", "exact") and value is None:
            conditions.append((name, "isnull", True))  # as filter(): x=None means x IS NULL
        elif lookup in ("", "exact"):
            conditions.append((name, "exact", 1))
            operands.append(value)
        elif lookup == "in":
            values = list(value)
            if not values:
                return None, []
            conditions.append((name, "in", len(values)))
            operands += values
        elif lookup == "isnull" and isinstance(value, bool):
            conditions.append((name, "isnull", value))
        else:
            raise ValueError(f"where: {key}={value!r} is not a condition update() knows (exact, in, isnull)")
    return tuple(conditions), operands


def _update_sql(
    model: type[Model],
    fields: tuple[str, ...],
    where: tuple[_Condition, ...],
    returning: tuple[str, ...],
    connection: BaseDatabaseWrapper,
) -> tuple[str, list[Field[Any, Any]], list[Field[Any, Any]]]:
    """update()'s statement: its SQL, the fields it sets and the field of each operand of its
    WHERE (the pk's first), in order."""
    quote = connection.ops.quote_name
    changed = [_field(model, name) for name in fields]
    if not changed:
        raise ValueError("update() needs at least one field to set")
    pk = model._meta.pk
    conditions, compared = [f"{quote(_column(pk))} = %s"], [pk]
    for name, lookup, operands in where:
        field = pk if name == "pk" else _field(model, name)
        column = quote(_column(field))
        if lookup == "isnull":
            conditions.append(f"{column} IS {'' if operands else 'NOT '}NULL")
        else:
            conditions.append(
                f"{column} = %s" if lookup == "exact" else f"{column} IN ({', '.join(['%s'] * operands)})"
            )
            compared += [field] * operands
    sql = "UPDATE {} SET {} WHERE {}".format(
        quote(model._meta.db_table),
        ", ".join(f"{quote(_column(f))} = %s" for f in changed),
        " AND ".join(conditions),
    )
    if returning:
        sql += f" RETURNING {', '.join(quote(_column(_field(model, name))) for name in returning)}"
    return sql, changed, compared


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


def _values(
    instance: Model, fields: list[Field[Any, Any]], connection: BaseDatabaseWrapper, *, add: bool = True
) -> list[Any]:
    """The instance's values of `fields` as save() sends them: pre_save() stamps what save() would
    (auto_now, and auto_now_add when `add`ing the row), on the instance as well."""
    return [f.get_db_prep_save(f.pre_save(instance, add), connection) for f in fields]


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    return cast(Field, model._meta.get_field(name))


def _column(field: Field[Any, Any] | None) -> str:
    if field is None or field.column is None:
        raise ValueError(f"{field} has no column")
    return field.column


# What a statement or the reading of a row takes, worked out once per connection (the SQL and
# converters are its backend's; converters are even its connection's own methods) and shape of
# call: an UPDATE's SQL, the converters of a row's columns. Working them out on every call took
# more than all the rest of update() or from_row() (~10 and ~20 us, measured).
_known: WeakKeyDictionary[BaseDatabaseWrapper, dict[tuple[Any, ...], Any]] = WeakKeyDictionary()


def _once(connection: BaseDatabaseWrapper, key: tuple[Any, ...], make: Callable[[], T]) -> T:
    known = _known.get(connection)
    if known is None:
        known = _known[connection] = {}
    if key not in known:
        known[key] = make()
    return cast(T, known[key])


# Reading a row of some fields of a model: those fields' attnames in the model's order (as
# Model.from_db() wants them), where each is in the row, and the converters of those that have any.
_Reading = tuple[list[str], list[int], list[tuple[int, list[Callable[..., Any]], Col]]]


def _read(
    model: type[Model], names: tuple[str, ...], row: Sequence[Any], connection: BaseDatabaseWrapper
) -> tuple[list[str], list[Any]]:
    """The attnames of `names` and the row's values, converted as the ORM would, both in the
    model's field order."""
    reading: _Reading = _once(connection, ("read", model, names), lambda: _reading(model, names, connection))
    attnames, positions, converters = reading
    values = list(row)
    for position, functions, column in converters:
        for convert in functions:
            values[position] = convert(values[position], column, connection)
    return attnames, [values[position] for position in positions]


def _reading(model: type[Model], names: tuple[str, ...], connection: BaseDatabaseWrapper) -> _Reading:
    fields = [_field(model, name) for name in names]
    order = {f.attname: index for index, f in enumerate(model._meta.concrete_fields)}
    if len({f.attname for f in fields}) != len(fields) or not all(f.attname in order for f in fields):
        raise ValueError(f"{model.__name__}: {names} are not distinct concrete fields")
    positions = sorted(range(len(fields)), key=lambda position: order[fields[position].attname])
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            converters.append((position, functions, column))
    return [fields[position].attname for position in positions], positions, converters
