"""A dedicated Postgres connection, outside Django's: its life is that of the lock or the
listener that holds it (the server releases an advisory lock when the connection goes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    import psycopg


def dedicated_connection(alias: str) -> psycopg.Connection[Any]:
    """A new autocommit psycopg connection to database `alias`."""
    import psycopg

    s = connections[alias].settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"],
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        autocommit=True,
        connect_timeout=5,
    )
