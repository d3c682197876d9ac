"""One database URL -> one Django DATABASES entry, the same way for every alias.

Used by the settings (DATABASE_URL_<ALIAS>) and by copy_database (its --to URL), so a copy's
target is opened exactly as the service that will run on it opens it.
"""

from __future__ import annotations

import warnings
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ

ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")


def config_from_url(url: str, *, conn_max_age: int = 0, prepared_statements: bool = True) -> dict[str, Any]:
    """The DATABASES entry for `url` (postgres://..., sqlite:///...). Raises ValueError for a URL
    whose scheme is not a database.

    On Postgres, statements are sent with server-side binding and prepared on their connection
    the second time they run: every handler, the relay and publish() repeat the same few
    statements all day, and parsing and planning them each time was a fifth of Postgres's CPU
    per order (bench/RESULTS.md, issue 14). `prepared_statements=False` (settings:
    DATABASE_PREPARED_STATEMENTS=false) is for a pooler in transaction mode (PgBouncer before
    1.21), where the next transaction may run on a server connection that never prepared them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # django-environ warns, then returns no engine: we raise
        config = environ.Env.db_url_config(url)
    if config.get("ENGINE") not in ENGINES:
        raise ValueError(f"not a PostgreSQL or SQLite URL: {redact(url)!r}")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the relay thread read while a request writes; IMMEDIATE takes the write lock
        # at BEGIN, so two writers queue instead of deadlocking on a lock upgrade.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        config["CONN_MAX_AGE"] = conn_max_age
        config["CONN_HEALTH_CHECKS"] = True
        config["OPTIONS"] = {"connect_timeout": 5, "server_side_binding": True}
        if prepared_statements:
            config["OPTIONS"]["prepare_threshold"] = 2
    return config


def redact(url: str) -> str:
    """`url` without its password: what may be printed or logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}@{netloc}" if user else netloc, parts.path, parts.query, ""))


def describe(config: dict[str, Any]) -> str:
    """A DATABASES entry in a few words, without its password: `postgresql shop@host:5432/name`."""
    engine = config["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite {config['NAME']}"
    user = f"{config['USER']}@" if config.get("USER") else ""
    return f"{engine} {user}{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}/{config['NAME']}"
