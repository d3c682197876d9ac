"""One handler of shop.identity.user_rights_changed per replica database.

A handler runs in one database (registry.Handler.database), and a consumer runs the handlers of
its own service's databases: so each replica gets a handler of its own, named after it
(rights.on_user_rights_changed_in_<alias>: its inbox rows and dead letters say which replica).
The split's catalog, orders and delivery consumers each apply the event to their own database;
the monolith's relay applies it to all three (there the user table decides anyway).
"""

from __future__ import annotations

from events import Event, handles
from events.registry import HandlerFunc
from shop.event_types import USER_RIGHTS_CHANGED
from shop.rights import replica
from shop.topology import RIGHTS_REPLICAS


def _handler_for(alias: str) -> HandlerFunc:
    def on_user_rights_changed(event: Event) -> None:
        """Keep the newest rights of the user (older or repeated versions change nothing)."""
        replica.apply_change(event.data, using=alias)

    on_user_rights_changed.__name__ = on_user_rights_changed.__qualname__ = (
        f"on_user_rights_changed_in_{alias}"
    )
    return handles(USER_RIGHTS_CHANGED, database=alias)(on_user_rights_changed)


HANDLERS = {alias: _handler_for(alias) for alias in RIGHTS_REPLICAS}
