"""A dedicated Postgres connection, outside Django's: its life is that of the lock or the
listener that holds it (the server releases an advisory lock when the connection goes)."""

from __future__ import annotations

from django.db import connections


def dedicated_connection(alias: str):
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
