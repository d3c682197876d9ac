"""Which handler consumes which event type, and in which service and database it runs.

Apps declare handlers in their handlers.py with @handles and import that module in
AppConfig.ready(). A consumer process runs the handlers of the services it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.apps import apps

from events.envelope import Event
from events.schemas import topic_for
from events.settings import events_settings

HandlerFunc = Callable[[Event], None]


@dataclass(frozen=True)
class Handler:
    event_type: str
    func: HandlerFunc
    database: str | None = None  # defaults to where the app's handlers write (APP_DATABASES)

    # app_label and name depend on the function alone: computed once, not for every event
    # (apps.get_containing_app_config scans the app registry).
    @cached_property
    def app_label(self) -> str:
        config = apps.get_containing_app_config(self.func.__module__)
        if config is None:
            raise LookupError(f"handler {self.func.__qualname__} is not in an installed app")
        return config.label

    @cached_property
    def name(self) -> str:
        """Stable identity of this handler: the inbox and dead letters are keyed by it."""
        return f"{self.app_label}.{self.func.__name__}"

    @property
    def alias(self) -> str:
        return self.database or events_settings.database_for_app(self.app_label)

    @property
    def service(self) -> str:
        return events_settings.service_of(self.alias)

    def __call__(self, event: Event) -> None:
        self.func(event)


_handlers: dict[str, dict[str, Handler]] = {}


def handles(*event_types: str, database: str | None = None) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register the decorated function as a consumer of each of `event_types`.

    The handler runs inside one transaction on its app's database (or `database`), together
    with the inbox row that makes redelivery a no-op; it may publish events in that transaction.
    An unknown event type (no schema) fails here, at import, not at the first message.
    """
    if not event_types:
        raise TypeError("@handles needs at least one event type")
    for event_type in event_types:
        topic_for(event_type)

    def register(func: HandlerFunc) -> HandlerFunc:
        for event_type in event_types:
            handler = Handler(event_type, func, database)
            _handlers.setdefault(event_type, {})[f"{func.__module__}.{func.__name__}"] = handler
        return func

    return register


def handlers_for(event_type: str, services: list[str]) -> list[Handler]:
    """The handlers of `event_type` that belong to the given services."""
    return [h for h in _handlers.get(event_type, {}).values() if h.service in services]


def all_handlers(services: list[str]) -> list[Handler]:
    return [h for by_name in _handlers.values() for h in by_name.values() if h.service in services]


def get_handler(name: str) -> Handler:
    """The handler named `name` (`<app label>.<function>`); a handler of several event types is
    returned for the first of them. Raises LookupError if none is registered."""
    for by_name in _handlers.values():
        for handler in by_name.values():
            if handler.name == name:
                return handler
    raise LookupError(f"no handler named {name!r} is registered")


def topics_for(services: list[str]) -> list[str]:
    """The topics a consumer of these services must subscribe to."""
    return sorted({topic_for(h.event_type) for h in all_handlers(services)})
