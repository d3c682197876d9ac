"""Orders keeps its own ProductSnapshot from catalog's product events and prices from it."""

from decimal import Decimal

import pytest

from events.inbox.apply import Outcome
from events.models import DeadLetter
from orders import services
from orders.models import Order, ProductSnapshot
from orders.tests.helpers import DBS, event, feed, product_event

pytestmark = pytest.mark.django_db(databases=DBS)


def test_product_created_event_creates_the_snapshot():
    assert (
        feed("on_product_created", product_event("created", 5, price="12.50", name="Mug")) == Outcome.APPLIED
    )

    snapshot = ProductSnapshot.objects.get(pk=5)
    assert (snapshot.sku, snapshot.name, snapshot.price, snapshot.currency, snapshot.active) == (
        "SKU-5",
        "Mug",
        Decimal("12.50"),
        "EUR",
        True,
    )


def test_product_updated_event_replaces_the_whole_state():
    feed("on_product_created", product_event("created", 5))

    feed("on_product_updated", product_event("updated", 5, name="Big mug", price="11.00", active=False))

    snapshot = ProductSnapshot.objects.get(pk=5)
    assert (snapshot.name, snapshot.price, snapshot.active) == ("Big mug", Decimal("11.00"), False)


def test_product_updated_for_an_unseen_product_creates_it():
    feed("on_product_updated", product_event("updated", 9, price="3.00"))

    assert ProductSnapshot.objects.get(pk=9).price == Decimal("3.00")


def test_redelivered_product_event_changes_nothing():
    created = product_event("created", 5, price="10.00")
    feed("on_product_created", created)
    feed("on_product_updated", product_event("updated", 5, price="20.00"))

    # The old creation arrives again (at-least-once delivery): it must not roll the price back.
    assert feed("on_product_created", created) == Outcome.DUPLICATE
    assert ProductSnapshot.objects.get(pk=5).price == Decimal("20.00")
    assert ProductSnapshot.objects.count() == 1


def test_price_change_reprices_new_orders_only():
    feed("on_product_created", product_event("created", 5, price="10.00"))
    before = services.place_order(
        customer_id=1, lines=[{"product_id": 5, "quantity": 2}], shipping_address="x"
    )

    changed = event(
        "shop.catalog.price_changed.v1", 5, product_id=5, old_price="10.00", new_price="12.50", currency="EUR"
    )
    assert feed("on_price_changed", changed) == Outcome.APPLIED
    after = services.place_order(
        customer_id=1, lines=[{"product_id": 5, "quantity": 2}], shipping_address="x"
    )

    before = Order.objects.get(pk=before.pk)
    assert (before.total, before.lines.get().unit_price) == (Decimal("20.00"), Decimal("10.00"))
    assert (after.total, after.lines.get().unit_price) == (Decimal("25.00"), Decimal("12.50"))
    assert ProductSnapshot.objects.get(pk=5).price == Decimal("12.50")


def test_price_change_for_an_unknown_product_is_parked_not_guessed():
    changed = event(
        "shop.catalog.price_changed.v1", 77, product_id=77, old_price="1.00", new_price="2.00", currency="EUR"
    )

    assert feed("on_price_changed", changed) == Outcome.PARKED
    assert not ProductSnapshot.objects.filter(pk=77).exists()
    assert DeadLetter.objects.using("orders").get().handler == "orders.on_price_changed"


def test_deactivated_product_can_no_longer_be_ordered():
    feed("on_product_created", product_event("created", 5))
    feed("on_product_updated", product_event("updated", 5, active=False))

    with pytest.raises(services.InvalidOrder) as caught:
        services.place_order(customer_id=1, lines=[{"product_id": 5, "quantity": 1}], shipping_address="x")
    assert caught.value.errors == {"lines": {"0": {"product_id": ["Product 5 is not available."]}}}
