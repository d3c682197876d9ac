"""Postgres helpers the benchmarks share: each creates and drops a private database."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def database_url(base: str, name: str) -> str:
    """`base` (any database URL on the cluster) pointed at database `name`."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def pg_admin(base: str):
    """An autocommit connection to the cluster's `postgres` database (CREATE/DROP DATABASE)."""
    import psycopg

    parts = urlsplit(base)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )
