"""Postgres for local topologies and benchmarks: URLs, CREATE/DROP DATABASE, and migrated
template databases that a new topology clones in milliseconds instead of migrating."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import psycopg

from devtools.services import PG_ADMIN_URL


def database_url(name: str, base: str = PG_ADMIN_URL) -> str:
    """`base` (any database URL on the cluster) pointed at database `name`."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def admin(base: str = PG_ADMIN_URL) -> psycopg.Connection:
    """An autocommit connection to the cluster's `postgres` database (CREATE/DROP DATABASE)."""
    return psycopg.connect(database_url("postgres", base), autocommit=True, connect_timeout=5)


def create_database(name: str, *, template: str | None = None, fresh: bool = False) -> None:
    """Create database `name` (a copy of `template`, if given) unless it exists; `fresh` drops an
    existing one first."""
    with admin() as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{clause}')


def drop_databases(names: Iterable[str]) -> None:
    """Drop each database, disconnecting whoever still uses it."""
    with admin() as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
