"""Catalog's answer to order_placed: stock_reserved confirms the order, stock_rejected rejects it."""

import pytest

from events.inbox.apply import Outcome
from events.models import DeadLetter
from orders.models import Order
from orders.tests.factories import OrderFactory
from orders.tests.helpers import DBS, event, feed, published, saga_observations

pytestmark = pytest.mark.django_db(databases=DBS)

CONFIRMED = "shop.orders.order_confirmed.v1"
REJECTED = "shop.orders.order_rejected.v1"


def reserved(order):
    return event(
        "shop.catalog.stock_reserved.v1",
        order.pk,
        order_id=order.pk,
        lines=[{"product_id": line.product_id, "quantity": line.quantity} for line in order.lines.all()],
    )


def rejected(order, reason="Not enough stock for product 3 (asked 5, 2 left)."):
    return event(
        "shop.catalog.stock_rejected.v1",
        order.pk,
        order_id=order.pk,
        reason=reason,
        problems=[{"product_id": 3, "problem": "insufficient_stock", "requested": 5, "available": 2}],
    )


def test_stock_reserved_confirms_the_order_and_publishes_order_confirmed():
    order = OrderFactory(customer_id=7, shipping_address="1 Main Street")

    assert feed("on_stock_reserved", reserved(order)) == Outcome.APPLIED

    assert Order.objects.get(pk=order.pk).status == "CONFIRMED"
    assert published(CONFIRMED) == [
        {"order_id": order.pk, "customer_id": 7, "shipping_address": "1 Main Street"}
    ]


def test_confirming_an_order_observes_the_seconds_since_it_was_placed(django_capture_on_commit_callbacks):
    order = OrderFactory()
    count, total = saga_observations("CONFIRMED")

    with django_capture_on_commit_callbacks(using="orders", execute=True):
        feed("on_stock_reserved", reserved(order))

    new_count, new_total = saga_observations("CONFIRMED")
    assert new_count == count + 1
    assert 0 <= new_total - total < 60  # placed a moment ago


def test_redelivered_stock_reserved_changes_nothing():
    order = OrderFactory()
    evt = reserved(order)
    feed("on_stock_reserved", evt)
    updated_at = Order.objects.get(pk=order.pk).updated_at

    assert feed("on_stock_reserved", evt) == Outcome.DUPLICATE

    assert len(published(CONFIRMED)) == 1
    assert Order.objects.get(pk=order.pk).updated_at == updated_at


def test_a_second_stock_reserved_for_a_confirmed_order_changes_nothing():
    # Not the same event (a new id, so the inbox lets it through): the service must hold the line.
    order = OrderFactory()
    feed("on_stock_reserved", reserved(order))

    assert feed("on_stock_reserved", reserved(order)) == Outcome.APPLIED

    assert Order.objects.get(pk=order.pk).status == "CONFIRMED"
    assert len(published(CONFIRMED)) == 1


def test_stock_reserved_for_a_cancelled_order_leaves_it_cancelled():
    order = OrderFactory(status=Order.Status.CANCELLED, status_reason="changed my mind")

    feed("on_stock_reserved", reserved(order))

    order.refresh_from_db()
    assert (order.status, order.status_reason) == ("CANCELLED", "changed my mind")
    assert published() == []


def test_stock_rejected_rejects_the_order_with_the_reason():
    order = OrderFactory()

    assert feed("on_stock_rejected", rejected(order)) == Outcome.APPLIED

    order.refresh_from_db()
    assert (order.status, order.status_reason) == (
        "REJECTED",
        "Not enough stock for product 3 (asked 5, 2 left).",
    )
    assert published(REJECTED) == [
        {"order_id": order.pk, "reason": "Not enough stock for product 3 (asked 5, 2 left)."}
    ]


def test_stock_rejected_after_confirmation_changes_nothing():
    order = OrderFactory()
    feed("on_stock_reserved", reserved(order))

    feed("on_stock_rejected", rejected(order))

    assert Order.objects.get(pk=order.pk).status == "CONFIRMED"
    assert published(REJECTED) == []


def test_stock_event_for_an_unknown_order_is_parked():
    evt = event(
        "shop.catalog.stock_reserved.v1", 424242, order_id=424242, lines=[{"product_id": 1, "quantity": 1}]
    )

    assert feed("on_stock_reserved", evt) == Outcome.PARKED

    assert DeadLetter.objects.using("orders").get().handler == "orders.on_stock_reserved"
    assert published() == []
