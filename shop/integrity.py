"""What an IntegrityError says, in the same terms on Postgres and SQLite.

A constraint the database enforces (a unique username, a unique SKU, stock >= 0) is the only
check that holds under concurrency: two requests can both pass a "does it exist?" query, and
only one INSERT wins. The loser's IntegrityError must become the same answer a sequential
duplicate gets, which needs to know which constraint failed — the drivers say it differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError

# SQLSTATE class 23, https://www.postgresql.org/docs/current/errcodes-appendix.html
_PG_KINDS = {"23505": "unique", "23514": "check", "23502": "not_null", "23503": "foreign_key"}
_SQLITE = re.compile(r"^(UNIQUE|CHECK|NOT NULL|FOREIGN KEY) constraint failed(?::\s*(.*))?$", re.S)
_PG_KEY = re.compile(r"^Key \((?P<columns>[^)]*)\)=")


@dataclass(frozen=True)
class Violation:
    kind: str  # unique | check | not_null | foreign_key | unknown
    table: str = ""
    columns: tuple[str, ...] = ()  # the plain columns involved, when the driver names them
    constraint: str = ""  # the constraint's or index's name, when the driver names it


def describe(exc: IntegrityError) -> Violation:
    """Which constraint an IntegrityError broke, as far as the driver tells."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:  # psycopg
        diag = cause.diag
        columns: tuple[str, ...] = ()
        match = _PG_KEY.match(diag.message_detail or "")
        if match:
            columns = tuple(c.strip() for c in match["columns"].split(","))
        elif diag.column_name:
            columns = (diag.column_name,)
        return Violation(
            kind=_PG_KINDS.get(sqlstate, "unknown"),
            table=diag.table_name or "",
            columns=tuple(c for c in columns if c.isidentifier()),
            constraint=diag.constraint_name or "",
        )
    match = _SQLITE.match(str(exc).strip())
    if match is None:
        return Violation(kind="unknown")
    kind = match[1].lower().replace(" ", "_")
    target = (match[2] or "").strip()
    if target.startswith("index "):  # a unique index on an expression: SQLite names the index
        return Violation(kind=kind, constraint=target[len("index ") :].strip("'\""))
    if kind == "check":
        return Violation(kind=kind, constraint=target)
    qualified = [part.strip() for part in target.split(",") if "." in part]
    table = qualified[0].split(".", 1)[0] if qualified else ""
    return Violation(kind=kind, table=table, columns=tuple(q.split(".", 1)[1] for q in qualified))
