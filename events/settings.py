"""events' settings: one namespaced dict in the Django settings, `EVENTS`, in which every key has
a default — the way DRF's `api_settings` reads `REST_FRAMEWORK`. Code reads them through
`events_settings`:

    from events.settings import events_settings
    events_settings.TRANSPORT                      # "local" unless EVENTS says otherwise
    events_settings.served_databases()             # the aliases this process relays and serves

The library never imports its host project: the project tells it, through `EVENTS`, which
service owns which database alias (`SERVICES`), where each app's handlers write
(`APP_DATABASES`) and which services one process runs (`SERVED_SERVICES`). Left unset, a plain
Django project is one service, "default", owning every database in DATABASES.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

DEFAULTS: dict[str, Any] = {
    # --- transport -------------------------------------------------------------------------------
    "TRANSPORT": "local",  # "local": handlers run in this process; "kafka": a broker in between
    "KAFKA_BOOTSTRAP_SERVERS": ["127.0.0.1:9092"],
    # Prefix of every topic and consumer group on the broker: lets deployments (or test runs)
    # share one broker without seeing each other's events.
    "NAMESPACE": "",
    # The deployment's name in broker and database names: consumer groups `<NAME>.<service>`,
    # dead letter topics `<NAME>.deadletter.<service>`, Kafka client ids, the relay's advisory
    # lock and its LISTEN/NOTIFY channel `<NAME>_outbox`.
    "NAME": "events",
    # --- outbox and relay --------------------------------------------------------------------------
    "RELAY_BATCH_SIZE": 500,
    "RELAY_POLL_SECONDS": 1.0,  # the safety net under the wake-up on commit
    "RELAY_IN_PROCESS": False,  # a relay thread inside the web process (a monolith)
    # Published rows older than this are pruned (not with "local"); 0: deleted as they are published.
    "OUTBOX_RETENTION_HOURS": 72,
    # --- inbox -------------------------------------------------------------------------------------
    "HANDLER_ATTEMPTS": 4,  # tries before an event is parked as a dead letter
    "HANDLER_BACKOFF_SECONDS": 0.05,  # doubled after each failed try
    # --- liveness and metrics -----------------------------------------------------------------------
    "HEARTBEAT_FILE": "",  # touched by the relay and consumer loops as they make progress
    # The relay and consumer processes serve no HTTP: with a port, they serve their Prometheus
    # metrics (handler outcomes, consumer lag, what their handlers observe) on it. 0: off.
    "METRICS_PORT": 0,
    "METRICS_ADDRESS": "127.0.0.1",
    # --- who owns what (the host project's topology) ----------------------------------------------
    "SERVICES": {},  # {service: [database aliases]}, the first its own; {}: "default" owns all
    "APP_DATABASES": {},  # {app label: alias} where the app's handlers write; else the 1st alias
    "SERVED_SERVICES": None,  # services this process runs handlers and relays for; None: all
}


class EventsSettings:
    """Attribute access to EVENTS with DEFAULTS underneath, plus what follows from them."""

    def __init__(self, defaults: dict[str, Any] | None = None):
        self.defaults = defaults or DEFAULTS

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(settings, "EVENTS", {})

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"invalid events setting: {name!r}")
        return self.user_settings.get(name, self.defaults[name])

    # --- what follows from them --------------------------------------------------------------------
    def services(self) -> dict[str, tuple[str, ...]]:
        """Every service and the database aliases it owns (its own database first)."""
        if self.SERVICES:
            return {name: tuple(aliases) for name, aliases in self.SERVICES.items()}
        return {"default": tuple(settings.DATABASES)}

    def served_services(self) -> list[str]:
        """The services this process runs: their handlers consume, their databases relay."""
        return list(self.SERVED_SERVICES or self.services())

    def served_databases(self) -> list[str]:
        """The database aliases of the served services, in order, each once."""
        services = self.services()
        return list(dict.fromkeys(a for name in self.served_services() for a in services[name]))

    def database_for_app(self, app_label: str) -> str:
        """Where the handlers of app `app_label` write (their inbox rows too)."""
        return self.APP_DATABASES.get(app_label) or next(iter(self.services().values()))[0]

    def service_of(self, alias: str) -> str:
        """The service that owns database `alias`."""
        for name, aliases in self.services().items():
            if alias in aliases:
                return name
        raise KeyError(f"no service owns database {alias!r} (EVENTS['SERVICES'])")

    def is_own_database(self, alias: str) -> bool:
        """Whether `alias` is its service's own (first) database, not one of its others."""
        return self.services()[self.service_of(alias)][0] == alias


events_settings = EventsSettings()


def check_settings(**kwargs: Any) -> list[CheckMessage]:
    """A system check (registered by EventsConfig): EVENTS names only known settings."""
    unknown = sorted(set(getattr(settings, "EVENTS", {})) - DEFAULTS.keys())
    return [Error(f"EVENTS has unknown settings {unknown}", id="events.E001")] if unknown else []
