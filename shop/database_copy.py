"""Copying one database alias to another database, and proving the copy equal to its source.

What moves is everything the router migrates into the alias: the app's tables with that
database's outbox, inbox and dead letters, and for `default` the users (password hashes as they
are), groups, permissions, content types, sessions and admin log. `django_migrations` does not
move: the target records its own migrations when it is migrated.

The guarantees, each for a trap of moving data between databases:

- **Same schema.** The target is migrated with this code's migrations before anything is copied,
  and the source must have every migration applied: both then have the same tables and columns,
  whatever the engines (SQLite <-> Postgres, Postgres -> Postgres).
- **Same ids.** Rows keep their primary keys, so foreign keys, content types and permissions,
  inbox entries and every id a client holds stay valid; afterwards the target's sequences are
  reset past the highest id, so the next insert does not collide with a copied row.
- **All or nothing.** The whole copy is one transaction on the target: a copy that fails leaves
  the target without rows, ready for another attempt. A target that holds rows is refused.
- **Flat memory.** Rows are read in primary-key batches (keyset: `WHERE pk > last ORDER BY pk
  LIMIT n`) and written per batch (COPY on Postgres), so memory does not grow with the table.
- **Proven equal.** Row counts and a checksum per table, computed the same way on both sides from
  canonical values (JSON with sorted keys, decimals at the field's places, datetimes in UTC to the
  microsecond, booleans as booleans): equal data gives equal checksums on SQLite and Postgres, so
  a value changed by the move shows. The checksum adds up one hash per row, so it does not depend
  on the order rows are read in (string keys sort differently under different collations).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from django.apps import apps
from django.core.management.color import no_style
from django.db import DatabaseError, connections, models, router, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.functions import Cast
from django.db.utils import load_backend

from shop.databases import config_from_url
from shop.routers import standing_in

TARGET = "copy_target"  # the connection alias the target is opened under
BATCH_SIZE = 2000
_MODULUS = 2**256


class CopyRefused(Exception):
    """The copy cannot start; nothing was written."""


# --- what belongs to an alias ----------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One table of the alias: its model and the columns that are copied and compared.

    JSON columns travel as their text, never decoded and encoded again on the way: what the
    source holds is what the target gets (the checksum decodes them to compare)."""

    model: type[models.Model]

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def fields(self) -> list[models.Field]:
        return list(self.model._meta.concrete_fields)

    @property
    def pk_index(self) -> int:
        return self.fields.index(self.model._meta.pk)

    def _selected(self) -> list[Any]:
        return [
            Cast(f.attname, output_field=models.TextField()) if _is_json(f) else f.attname
            for f in self.fields
        ]

    def batches(self, alias: str, batch_size: int = BATCH_SIZE) -> Iterator[list[tuple]]:
        """Every row of the table in database `alias`, in primary-key order, `batch_size` rows at
        a time (keyset pagination: each batch is one indexed query, memory stays one batch)."""
        rows = self.model._base_manager.using(alias).order_by("pk").values_list(*self._selected())
        pk, last = self.pk_index, None
        while True:
            page = list((rows.filter(pk__gt=last) if last is not None else rows)[:batch_size])
            if page:
                yield page
            if len(page) < batch_size:
                return
            last = page[-1][pk]

    def rows_with_keys(self, alias: str, keys: list[Any]) -> Iterator[tuple]:
        return (
            self.model._base_manager.using(alias)
            .filter(pk__in=keys)
            .values_list(*self._selected())
            .iterator()
        )

    def count(self, alias: str) -> int:
        return self.model._base_manager.using(alias).count()

    def row_hash(self) -> Callable[[tuple], int]:
        return row_hasher(self.fields)


def row_hasher(fields: list[models.Field]) -> Callable[[tuple], int]:
    """A function from a row of these fields (as Table.batches yields it) to its hash: equal
    for equal data whichever engine the row was read from."""
    canonical = [canonical_value(f) for f in fields]

    def digest(row: tuple) -> int:
        values = [None if v is None else c(v) for c, v in zip(canonical, row, strict=True)]
        try:
            text = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # beyond what orjson encodes (integers over 64 bits): the stdlib's way
            text = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        return int.from_bytes(hashlib.sha256(text).digest(), "big")

    return digest


def _is_json(f: models.Field) -> bool:
    return f.get_internal_type() == "JSONField"


def _json_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # integers over 64 bits, which orjson refuses
        return json.loads(text)


def canonical_value(f: models.Field) -> Callable[[Any], Any]:
    """How a non-null value of field `f` enters the checksum: one representation per value,
    whichever engine it was read from. (JSON objects: decoded, their keys sorted when hashed.)"""
    kind = f.get_internal_type()
    if kind == "JSONField":
        return _json_value
    if kind == "DecimalField":
        places = Decimal(1).scaleb(-f.decimal_places)
        return lambda v: str(Decimal(v).quantize(places))
    if kind == "DateTimeField":
        return lambda v: (v.astimezone(UTC) if v.tzinfo else v).isoformat(timespec="microseconds")
    if kind in ("DateField", "TimeField"):
        return lambda v: v.isoformat()
    if kind == "DurationField":
        return lambda v: v // timedelta(microseconds=1)
    if kind == "BooleanField":
        return bool
    if kind == "FloatField":
        return lambda v: repr(float(v))
    if kind == "UUIDField":
        return str
    if kind == "BinaryField":
        return lambda v: bytes(v).hex()
    if isinstance(f, models.ForeignKey):
        return canonical_value(f.target_field)
    return lambda v: v if isinstance(v, int | str) else str(v)


def tables_of(alias: str) -> list[Table]:
    """Every table the router puts in `alias`, parents before children (a foreign key's target
    table comes first), each exactly once."""
    found = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy and router.allow_migrate_model(alias, m)
    ]
    by_table = {m._meta.db_table: m for m in found}
    ordered: list[type[models.Model]] = []
    visiting: set[str] = set()

    def visit(model: type[models.Model]) -> None:
        table = model._meta.db_table
        if model in ordered or table in visiting:
            return
        visiting.add(table)
        for f in model._meta.concrete_fields:
            parent = f.remote_field.model if f.remote_field else None
            if parent is not None and parent is not model and parent._meta.db_table in by_table:
                visit(by_table[parent._meta.db_table])
        ordered.append(model)

    for model in sorted(found, key=lambda m: m._meta.db_table):
        visit(model)
    return [Table(m) for m in ordered]


# Rows `migrate` creates by itself (post_migrate): a target migrated before the copy holds them.
# They are derived data, replaced by the source's with their ids, which other rows refer to.
def _derived_tables() -> set[str]:
    derived = set()
    if apps.is_installed("django.contrib.contenttypes"):
        derived.add(apps.get_model("contenttypes", "ContentType")._meta.db_table)
    if apps.is_installed("django.contrib.auth"):
        derived.add(apps.get_model("auth", "Permission")._meta.db_table)
    return derived


# --- the target connection -------------------------------------------------------------------------


@contextlib.contextmanager
def target_database(url: str, *, alias: str) -> Iterator[str]:
    """Open the database at `url` as connection TARGET (in this thread), migrated and routed as
    `alias` would be. Refuses the source itself."""
    try:
        config = config_from_url(url)
    except ValueError as exc:
        raise CopyRefused(str(exc))
    if _same_database(config, connections[alias].settings_dict):
        raise CopyRefused(f"the target is the source database of {alias!r} itself")
    # A connection of this thread only, not a configured database: it exists for the copy alone.
    config = connections.configure_settings({"default": config})["default"]
    connections[TARGET] = load_backend(config["ENGINE"]).DatabaseWrapper(config, TARGET)
    try:
        connections[TARGET].ensure_connection()
    except DatabaseError as exc:
        del connections[TARGET]
        raise CopyRefused(f"cannot open the target: {str(exc).strip().splitlines()[-1]}")
    try:
        with standing_in(TARGET, for_alias=alias):
            yield TARGET
    finally:
        connections[TARGET].close()
        del connections[TARGET]


def _same_database(a: dict, b: dict) -> bool:
    if a["ENGINE"] != b["ENGINE"]:
        return False
    if a["ENGINE"].endswith("sqlite3"):
        return Path(str(a["NAME"])).resolve() == Path(str(b["NAME"])).resolve()
    return (a["NAME"], a.get("HOST") or "localhost", int(a.get("PORT") or 5432)) == (
        b["NAME"],
        b.get("HOST") or "localhost",
        int(b.get("PORT") or 5432),
    )


def unapplied_migrations(db: str) -> list[str]:
    """Migrations of this code not yet applied to database `db`."""
    executor = MigrationExecutor(connections[db])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _ in plan]


def migrate(db: str) -> list[str]:
    """Apply every migration to `db` (the router decides which create tables there). Without
    the post_migrate signal: content types and permissions come from the source, ids included."""
    executor = MigrationExecutor(connections[db])
    targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    executor.migrate(targets, plan=plan)
    return [f"{m.app_label}.{m.name}" for m, _ in plan]


def applied_migrations(db: str) -> set[tuple[str, str]]:
    return set(MigrationRecorder(connections[db]).applied_migrations())


def tables_with_rows(db: str, tables: list[Table]) -> list[str]:
    existing = set(connections[db].introspection.table_names())
    return [t.name for t in tables if t.name in existing and t.model._base_manager.using(db).exists()]


# --- copying ---------------------------------------------------------------------------------------


@dataclass
class Copied:
    table: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / max(self.seconds, 1e-9)


def copy_table(
    table: Table,
    source: str,
    target: str,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Copied:
    """Copy every row of `table` from `source` to `target`, batch by batch, ids included.
    Runs inside the caller's transaction on `target`."""
    started = time.perf_counter()
    connection = connections[target]
    fields = table.fields
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    # Values as Django writes them on the target's engine; JSON text as it is.
    prepares = [
        (lambda v: v)
        if _is_json(f)
        else (lambda v, f=f: None if v is None else f.get_db_prep_save(v, connection))
        for f in fields
    ]
    total = 0
    for rows in table.batches(source, batch_size):
        values = [[prepare(v) for prepare, v in zip(prepares, row, strict=True)] for row in rows]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY: the fastest way into Postgres, one round trip per batch.
                with cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(fields))
                cursor.executemany(f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", values)
        total += len(rows)
        if progress:
            progress(len(rows))
    return Copied(table.name, total, time.perf_counter() - started)


_PLAIN = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "CharField",
    "TextField",
}


def _as_is(value: Any) -> Any:
    return value


def _prepare_for(f: models.Field, connection) -> Callable[[Any], Any]:
    return lambda v: None if v is None else f.get_db_prep_save(v, connection)


def reset_sequences(db: str, tables: list[Table]) -> int:
    """Move each auto-increment sequence of `db` past the highest copied id (what loaddata does);
    returns how many statements ran. SQLite needs none: it keeps AUTOINCREMENT past explicit ids."""
    connection = connections[db]
    statements = connection.ops.sequence_reset_sql(no_style(), [t.model for t in tables])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return len(statements)


@contextlib.contextmanager
def snapshot(db: str) -> Iterator[None]:
    """Reads inside see one consistent state of `db`: on Postgres a REPEATABLE READ, READ ONLY
    transaction. SQLite has no such thing without blocking its writers: there the source must
    be stopped, and the verification after the copy shows any write that happened meanwhile."""
    connection = connections[db]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=db):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


# --- comparing -------------------------------------------------------------------------------------

EXAMPLES = 5


@dataclass
class Comparison:
    """One table on both sides. `target_rows` is None when the target has no such table."""

    table: str
    source_rows: int
    source_checksum: str
    target_rows: int | None = None
    target_checksum: str | None = None
    missing: list[Any] = field(default_factory=list)  # ids only in the source (examples)
    extra: list[Any] = field(default_factory=list)  # ids only in the target
    changed: list[Any] = field(default_factory=list)  # ids whose values differ
    counts: dict[str, int] = field(default_factory=dict)  # how many of each, all of them

    @property
    def equal(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum

    def describe(self) -> str:
        if self.equal:
            return "equal"
        if self.target_rows is None:
            return "missing in the target"
        parts = []
        for kind, label in (
            ("missing", "only in the source"),
            ("extra", "only in the target"),
            ("changed", "with other values"),
        ):
            if self.counts.get(kind):
                ids = ", ".join(map(str, getattr(self, kind)))
                more = "" if self.counts[kind] <= EXAMPLES else ", ..."
                parts.append(f"{self.counts[kind]} row(s) {label} (id {ids}{more})")
        return "; ".join(parts) or "checksums differ"


def checksum(
    table: Table, db: str, batch_size: int = BATCH_SIZE, progress: Callable[[int], None] | None = None
) -> tuple[int, str]:
    """(row count, checksum) of `table` in `db`, streamed in batches (`progress(rows)` after each)."""
    digest = table.row_hash()
    total, count = 0, 0
    for rows in table.batches(db, batch_size):
        for row in rows:
            total = (total + digest(row)) % _MODULUS
        count += len(rows)
        if progress:
            progress(len(rows))
    return count, f"{total:064x}"


def compare(
    table: Table,
    source: str,
    target: str,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Counts and checksums of `table` on both sides and, when they differ, which rows. Both
    sides are read at once: the source in a thread (and connection) of its own."""
    if table.name not in connections[target].introspection.table_names():
        return Comparison(table.name, *checksum(table, source, batch_size, progress))

    def on_source() -> tuple[int, str]:
        try:
            return checksum(table, source, batch_size, progress)
        finally:
            connections[source].close()  # this thread's connection

    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(on_source)
        theirs = checksum(table, target, batch_size)
        ours = reading.result()
    result = Comparison(table.name, *ours)
    result.target_rows, result.target_checksum = theirs
    if not result.equal:
        _find_differences(table, source, target, result, batch_size)
    return result


def _find_differences(table: Table, source: str, target: str, result: Comparison, batch_size: int) -> None:
    digest, pk = table.row_hash(), table.pk_index
    manager = table.model._base_manager

    def note(kind: str, key: Any) -> None:
        result.counts[kind] = result.counts.get(kind, 0) + 1
        if len(getattr(result, kind)) < EXAMPLES:
            getattr(result, kind).append(key)

    for rows in table.batches(source, batch_size):
        keys = [row[pk] for row in rows]
        theirs = {row[pk]: digest(row) for row in table.rows_with_keys(target, keys)}
        for row in rows:
            if row[pk] not in theirs:
                note("missing", row[pk])
            elif theirs[row[pk]] != digest(row):
                note("changed", row[pk])
    for rows in table.batches(target, batch_size):
        keys = [row[pk] for row in rows]
        ours = set(manager.using(source).filter(pk__in=keys).values_list("pk", flat=True))
        for key in keys:
            if key not in ours:
                note("extra", key)
