from django.apps import AppConfig
from django.db.backends.signals import connection_created


class IdentityConfig(AppConfig):
    """Users and tokens. Users live in `default` (django.contrib.auth); only this service holds
    the private key and signs tokens, every other service verifies them with the public key."""

    name = "shop.identity"
    label = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        from shop.identity import rights

        rights.connect()  # every change of a user's rights is published (shop/identity/rights.py)
        connection_created.connect(_unicode_lower_on_sqlite, dispatch_uid="identity-sqlite-lower")


def _unicode_lower_on_sqlite(sender, connection, **kwargs) -> None:
    """SQLite's LOWER() folds ASCII only, so 'Émile' and 'émile' would be two usernames in the
    embedded shape but one on Postgres. Python's str.lower, registered as LOWER on the identity
    database's connections, makes the case-insensitive unique indexes and lookups agree with
    Postgres. (A tool writing to that SQLite file with its own LOWER would index non-ASCII
    names differently; nothing but this app writes users.)"""
    if connection.vendor == "sqlite" and connection.alias == "default":
        connection.connection.create_function("LOWER", 1, _lower, deterministic=True)


def _lower(value):
    return value.lower() if isinstance(value, str) else value
