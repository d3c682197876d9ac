"""The database router that keeps every app inside its own database.

- Each app's models are read from and written to the alias `shop.topology` gives the app.
- Migrations of an app run only on its alias; the `events` app (outbox, inbox, dead letters) is
  migrated into every alias, because an event must commit with the change that caused it, and
  the `rights` app (the replica of users' rights) into the own database of every service that
  authenticates without the user table (topology.RIGHTS_REPLICAS).
- Relations between objects of different aliases are refused.
- Events and rights models have no home alias: a query on them without `.using(alias)` raises instead of
  silently landing in `default`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shop.topology import ALIAS_FOR_APP, ALL_ALIASES, RIGHTS_REPLICAS

EVERYWHERE = "events"
# Apps whose tables live in several databases, and which.
NO_HOME: dict[str, tuple[str, ...]] = {EVERYWHERE: ALL_ALIASES, "rights": RIGHTS_REPLICAS}


# Connections standing in for an alias: copy_database's target is migrated as if it were the
# alias it receives (the same tables, the same migrations), while the alias stays the source.
_stand_ins: dict[str, str] = {}


@contextmanager
def standing_in(db: str, *, for_alias: str) -> Iterator[None]:
    """While inside, the router treats connection `db` as the database of `for_alias`."""
    _stand_ins[db] = for_alias
    try:
        yield
    finally:
        _stand_ins.pop(db, None)


class CrossDatabaseAccess(RuntimeError):
    """A query was about to hit a database its model does not live in."""


def alias_for(app_label: str) -> str | None:
    """The one database an app's models live in (None for the events and rights models, which
    live in several)."""
    if app_label in NO_HOME:
        return None
    alias = ALIAS_FOR_APP.get(app_label)
    if alias is None:
        raise CrossDatabaseAccess(f"app {app_label!r} has no database alias; add it to shop/topology.py")
    return alias


class AppDatabaseRouter:
    def _alias(self, model, hints) -> str:
        alias = alias_for(model._meta.app_label)
        if alias is not None:
            return alias
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return instance._state.db
        raise CrossDatabaseAccess(
            f"{model.__name__} lives in several databases; say which with .using(alias)"
        )

    def db_for_read(self, model, **hints):
        return self._alias(model, hints)

    def db_for_write(self, model, **hints):
        return self._alias(model, hints)

    def allow_relation(self, obj1, obj2, **hints):
        # Same database or nothing: a foreign key across apps is a design error, not a query.
        return obj1._state.db == obj2._state.db

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        db = _stand_ins.get(db, db)
        if app_label in NO_HOME:
            return db in NO_HOME[app_label]
        return db == ALIAS_FOR_APP.get(app_label)
