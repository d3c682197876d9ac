"""Each app's data lives only in its own database; the router refuses to mix them."""

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections

from shop.routers import CrossDatabaseAccess
from shop.topology import ALIAS_FOR_APP, RIGHTS_REPLICAS

pytestmark = pytest.mark.django_db(databases="__all__")

EVENTS_TABLES = {"events_outboxevent", "events_inboxentry", "events_deadletter"}


def home_alias(model) -> str:
    return ALIAS_FOR_APP[model._meta.app_label]


def test_each_apps_tables_exist_only_in_its_own_database():
    tables = {alias: set(connections[alias].introspection.table_names()) for alias in settings.SERVED_ALIASES}
    for model in apps.get_models():
        if model._meta.app_label in ("events", "rights") or not model._meta.managed:
            continue
        home = home_alias(model)
        table = model._meta.db_table
        assert table in tables[home], f"{table} missing from its database {home}"
        elsewhere = [alias for alias in tables if alias != home and table in tables[alias]]
        assert not elsewhere, f"{table} of {home} also exists in {elsewhere}"


def test_outbox_inbox_and_dead_letters_are_in_every_database():
    for alias in settings.SERVED_ALIASES:
        assert set(connections[alias].introspection.table_names()) >= EVENTS_TABLES, alias


def test_the_rights_replica_is_in_each_service_database_without_the_user_table_and_only_there():
    from shop.rights.models import ReplicatedRights

    table = ReplicatedRights._meta.db_table
    having = [
        alias for alias in settings.SERVED_ALIASES if table in connections[alias].introspection.table_names()
    ]
    assert having == list(RIGHTS_REPLICAS) == ["catalog", "orders", "delivery"]
    with pytest.raises(CrossDatabaseAccess, match="using"):
        ReplicatedRights.objects.count()


def test_a_query_on_the_events_tables_must_name_its_database():
    from events.models import OutboxEvent

    with pytest.raises(CrossDatabaseAccess, match="using"):
        OutboxEvent.objects.count()


def test_business_models_are_routed_to_their_own_database():
    from catalog.models import Product
    from delivery.models import Shipment
    from orders.models import Order

    assert Product.objects.all().db == "catalog"
    assert Order.objects.all().db == "orders"
    assert Shipment.objects.all().db == "delivery"


def test_a_cross_app_query_fails_loudly_instead_of_hitting_the_wrong_database():
    from catalog.models import Product

    with pytest.raises(Exception, match=r"(no such table|does not exist)"):
        list(Product.objects.using("orders").all())


def test_relations_across_databases_are_refused():
    from django.db import router

    from catalog.models import Product
    from orders.models import Order

    product, order = Product(), Order()
    product._state.db, order._state.db = "catalog", "orders"
    assert router.allow_relation(product, order) is False
