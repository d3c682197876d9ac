"""Which service owns which app, database aliases and URLs.

This is the single place that knows how the monolith splits. `SHOP_SERVICES` (a comma-separated
list of service names, unset = all) selects what one process serves: its URLs, the database
aliases it configures (a service cannot open another service's database at all) and the event
handlers its consumers run. Settings, URLconf, router and consumers all read from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    apps: dict[str, str]  # app label -> the database alias its models live in (and its handlers write)
    url_prefix: str  # what the gateway routes here
    urlconf: str

    @property
    def aliases(self) -> tuple[str, ...]:
        """The database aliases the service owns; the first is its write database."""
        return tuple(dict.fromkeys(self.apps.values()))


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service(
            "shop",
            # token_blacklist: simplejwt's outstanding and used refresh tokens (rotation, logout).
            dict.fromkeys(
                ("identity", "auth", "contenttypes", "sessions", "admin", "token_blacklist"), "default"
            ),
            "/api/auth/",
            "shop.identity.api.urls",
        ),
        Service("catalog", {"catalog": "catalog"}, "/api/catalog/", "catalog.api.urls"),
        # The read side (CQRS) is an app of its own with a database of its own.
        Service(
            "orders", {"orders": "orders", "orders_read": "orders_read"}, "/api/orders/", "orders.api.urls"
        ),
        Service("delivery", {"delivery": "delivery"}, "/api/delivery/", "delivery.api.urls"),
    )
}

# The app label -> database alias map the router enforces. Apps not listed here have no
# database of their own; `events` is special: its tables live in every alias.
ALIAS_FOR_APP: dict[str, str] = {app: alias for s in SERVICES.values() for app, alias in s.apps.items()}
ALL_ALIASES: tuple[str, ...] = tuple(a for s in SERVICES.values() for a in s.aliases)
# The service that holds the user table (identity); every other service authenticates with the
# public key and a replica of users' rights (the `rights` app) in its own database.
IDENTITY_SERVICE = "shop"
RIGHTS_REPLICAS: tuple[str, ...] = tuple(
    s.aliases[0] for s in SERVICES.values() if s.name != IDENTITY_SERVICE
)


def selected(names: str | None) -> list[Service]:
    """The services named in a SHOP_SERVICES value (None or empty = all of them)."""
    if not names:
        return list(SERVICES.values())
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(wanted) - SERVICES.keys())
    if unknown:
        raise ValueError(f"SHOP_SERVICES names unknown services {unknown}; known: {sorted(SERVICES)}")
    return [SERVICES[n] for n in wanted]


def service_for_alias(alias: str) -> Service:
    for service in SERVICES.values():
        if alias in service.aliases:
            return service
    raise KeyError(alias)
