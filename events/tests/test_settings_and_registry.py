"""events as a library: its settings have defaults and are checked, and @handles registers one
handler for several event types under one name."""

import copy

import pytest
from django.core.checks import run_checks

from events import registry
from events.registry import handlers_for, handles
from events.schemas import EventSchemaError
from events.settings import DEFAULTS, events_settings


def test_every_setting_has_a_default_that_a_project_without_events_settings_gets(settings):
    del settings.EVENTS
    assert events_settings.TRANSPORT == DEFAULTS["TRANSPORT"] == "local"
    assert DEFAULTS["HANDLER_ATTEMPTS"] == events_settings.HANDLER_ATTEMPTS
    # Without a topology, one service owns every database, and a handler writes to the first.
    assert events_settings.services() == {"default": tuple(settings.DATABASES)}
    assert events_settings.served_databases() == list(settings.DATABASES)
    assert events_settings.database_for_app("any_app") == next(iter(settings.DATABASES))


def test_the_projects_topology_says_who_owns_which_database():
    assert events_settings.service_of("orders_read") == "orders"
    assert not events_settings.is_own_database("orders_read")
    assert events_settings.is_own_database("orders")
    assert events_settings.database_for_app("orders_read") == "orders_read"


def test_an_unknown_setting_is_a_system_check_error_and_no_attribute(settings):
    settings.EVENTS = {**settings.EVENTS, "HANDLER_ATTEMTPS": 9}
    assert [m.id for m in run_checks() if m.id.startswith("events.")] == ["events.E001"]
    with pytest.raises(AttributeError):
        events_settings.HANDLER_ATTEMTPS  # noqa: B018


@pytest.fixture
def restored_registry():
    """Handlers a test declares are gone afterwards (no other test's event reaches them)."""
    saved = copy.deepcopy(registry._handlers)
    yield
    registry._handlers.clear()
    registry._handlers.update(saved)


def test_one_handler_of_several_types_is_registered_for_each_under_one_name(restored_registry):
    @handles("shop.orders.order_shipped.v1", "shop.orders.order_delivered.v1", database="delivery")
    def follow_the_order(event):
        pass

    for event_type in ("shop.orders.order_shipped.v1", "shop.orders.order_delivered.v1"):
        (handler,) = [h for h in handlers_for(event_type, ["delivery"]) if h.func is follow_the_order]
        assert (handler.name, handler.alias, handler.service) == (
            "events.follow_the_order",
            "delivery",
            "delivery",
        )


def test_a_handler_of_an_unknown_type_fails_when_it_is_declared():
    with pytest.raises(EventSchemaError, match="unknown event type"):
        handles("shop.orders.order_teleported.v1")
