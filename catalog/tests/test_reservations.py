"""Stock reservations for orders: all or none, never oversold, released exactly once."""

import threading

import pytest
from django.db import connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import services
from catalog.apps import ALIAS
from catalog.models import Product, ReservationLine, StockReservation
from catalog.tests.factories import ProductFactory
from catalog.tests.helpers import new_order_id, order_cancelled, order_placed, published
from events.inbox.apply import Outcome
from events.inbox.deliver import deliver
from events.models import DeadLetter, InboxEntry
from events.registry import get_handler

pytestmark = pytest.mark.django_db(databases=[ALIAS])


def _stock(*products: Product) -> list[int]:
    return [Product.objects.get(pk=p.pk).stock for p in products]


def test_an_order_that_fits_reserves_every_line_and_publishes_stock_reserved():
    mug, pen = ProductFactory(stock=5), ProductFactory(stock=2)
    order_id = new_order_id()

    result = services.reserve_stock(order_id=order_id, lines=[(mug.pk, 3), (pen.pk, 2)])

    assert result.reserved
    assert _stock(mug, pen) == [2, 0]
    reservation = StockReservation.objects.get(order_id=order_id)
    assert reservation.status == StockReservation.Status.RESERVED
    assert sorted(reservation.lines.values_list("product_id", "quantity")) == sorted(
        [(mug.pk, 3), (pen.pk, 2)]
    )
    assert published() == [
        {
            "type": services.STOCK_RESERVED,
            "key": str(order_id),
            "order_id": order_id,
            "lines": [{"product_id": mug.pk, "quantity": 3}, {"product_id": pen.pk, "quantity": 2}],
        }
    ]


def test_one_short_line_rejects_the_whole_order_and_changes_no_stock():
    plenty, scarce = ProductFactory(stock=50, sku="SKU-A"), ProductFactory(stock=2, sku="SKU-1")
    order_id = new_order_id()

    result = services.reserve_stock(order_id=order_id, lines=[(plenty.pk, 4), (scarce.pk, 5)])

    assert not result.reserved
    assert _stock(plenty, scarce) == [50, 2]
    assert not StockReservation.objects.exists()
    assert not ReservationLine.objects.exists()
    (rejected,) = published()
    assert rejected == {
        "type": services.STOCK_REJECTED,
        "key": str(order_id),
        "order_id": order_id,
        "reason": "insufficient stock for SKU-1 (requested 5, available 2)",
        "problems": [
            {"product_id": scarce.pk, "problem": "insufficient_stock", "requested": 5, "available": 2}
        ],
    }


def test_a_shortage_on_a_later_product_undoes_the_earlier_decrements(monkeypatch):
    # The first product (lower id) is decremented before the second one runs short; the
    # savepoint must put it back. Force the race by emptying the second after the check.
    first, second = ProductFactory(stock=5), ProductFactory(stock=5)
    original = services._problems

    def stock_vanishes_after_the_check(wanted, products):
        found = original(wanted, products)
        Product.objects.filter(pk=second.pk).update(stock=0)
        return found

    monkeypatch.setattr(services, "_problems", stock_vanishes_after_the_check)

    result = services.reserve_stock(order_id=new_order_id(), lines=[(first.pk, 1), (second.pk, 1)])

    assert not result.reserved
    assert _stock(first, second) == [5, 0]
    assert not StockReservation.objects.exists()
    (rejected,) = published(services.STOCK_REJECTED)
    assert rejected["problems"] == [
        {"product_id": second.pk, "problem": "insufficient_stock", "requested": 1, "available": 0}
    ]


def test_every_problem_of_a_rejected_order_is_reported():
    inactive = ProductFactory(stock=10, active=False, sku="OLD-1")
    short = ProductFactory(stock=1, sku="SHORT-1")
    fine = ProductFactory(stock=10)
    missing_id = 987_654

    result = services.reserve_stock(
        order_id=new_order_id(),
        lines=[(missing_id, 1), (inactive.pk, 1), (short.pk, 2), (fine.pk, 1)],
    )

    assert not result.reserved
    assert _stock(inactive, short, fine) == [10, 1, 10]
    (rejected,) = published(services.STOCK_REJECTED)
    assert sorted(rejected["problems"], key=lambda p: p["product_id"]) == sorted(
        [
            {"product_id": missing_id, "problem": "unknown_product", "requested": 1},
            {"product_id": inactive.pk, "problem": "inactive", "requested": 1},
            {"product_id": short.pk, "problem": "insufficient_stock", "requested": 2, "available": 1},
        ],
        key=lambda p: p["product_id"],
    )
    assert f"unknown product {missing_id}" in rejected["reason"]
    assert "OLD-1" in rejected["reason"]
    assert "insufficient stock for SHORT-1 (requested 2, available 1)" in rejected["reason"]


def test_lines_of_the_same_product_count_together():
    product = ProductFactory(stock=5, sku="SKU-9")

    result = services.reserve_stock(order_id=new_order_id(), lines=[(product.pk, 3), (product.pk, 3)])

    assert not result.reserved
    assert _stock(product) == [5]
    assert "requested 6, available 5" in result.reason


def test_reserving_again_for_the_same_order_changes_nothing():
    product = ProductFactory(stock=5)
    order_id = new_order_id()
    services.reserve_stock(order_id=order_id, lines=[(product.pk, 2)])

    again = services.reserve_stock(order_id=order_id, lines=[(product.pk, 2)])

    assert again.repeated
    assert _stock(product) == [3]
    assert StockReservation.objects.count() == 1
    assert len(published(services.STOCK_RESERVED)) == 1


def test_a_redelivered_order_placed_event_changes_nothing():
    product = ProductFactory(stock=5)
    event = order_placed(new_order_id(), [(product.pk, 2)])
    handler = get_handler("catalog.on_order_placed")

    outcomes = [deliver(event, handler), deliver(event, handler)]

    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE]
    assert _stock(product) == [3]
    assert StockReservation.objects.count() == 1
    assert len(published(services.STOCK_RESERVED)) == 1
    assert InboxEntry.objects.using(ALIAS).count() == 1


def test_order_placed_handler_rejects_what_cannot_be_reserved():
    product = ProductFactory(stock=1)
    order_id = new_order_id()

    outcome = deliver(order_placed(order_id, [(product.pk, 2)]), get_handler("catalog.on_order_placed"))

    assert outcome == Outcome.APPLIED
    assert _stock(product) == [1]
    assert [e["order_id"] for e in published(services.STOCK_REJECTED)] == [order_id]


def test_cancelling_gives_the_stock_back_once_even_if_released_twice():
    mug, pen = ProductFactory(stock=5), ProductFactory(stock=5)
    order_id = new_order_id()
    services.reserve_stock(order_id=order_id, lines=[(mug.pk, 2), (pen.pk, 5)])

    first = services.release_stock(order_id=order_id)
    second = services.release_stock(order_id=order_id)

    assert first is not None
    assert second is None
    assert _stock(mug, pen) == [5, 5]
    reservation = StockReservation.objects.get(order_id=order_id)
    assert reservation.status == StockReservation.Status.RELEASED
    assert reservation.released_at is not None
    (released,) = published(services.STOCK_RELEASED)
    assert released == {
        "type": services.STOCK_RELEASED,
        "key": str(order_id),
        "order_id": order_id,
        "lines": [{"product_id": mug.pk, "quantity": 2}, {"product_id": pen.pk, "quantity": 5}],
    }


def test_two_cancellation_events_for_one_order_release_once():
    product = ProductFactory(stock=4)
    order_id = new_order_id()
    services.reserve_stock(order_id=order_id, lines=[(product.pk, 4)])
    handler = get_handler("catalog.on_order_cancelled")

    # Different event ids (e.g. the customer and the timeout both cancelled): the inbox cannot
    # tell them apart, the reservation's status must.
    deliver(order_cancelled(order_id), handler)
    deliver(order_cancelled(order_id, reason="timed out"), handler)

    assert _stock(product) == [4]
    assert len(published(services.STOCK_RELEASED)) == 1


def test_cancelling_an_order_without_a_reservation_does_nothing():
    product = ProductFactory(stock=1)
    rejected_order = new_order_id()
    services.reserve_stock(order_id=rejected_order, lines=[(product.pk, 2)])

    outcome = deliver(order_cancelled(rejected_order), get_handler("catalog.on_order_cancelled"))
    nothing = services.release_stock(order_id=new_order_id())

    assert outcome == Outcome.APPLIED
    assert nothing is None
    assert _stock(product) == [1]
    assert published(services.STOCK_RELEASED) == []


def test_a_released_order_is_not_reserved_again():
    product = ProductFactory(stock=3)
    order_id = new_order_id()
    services.reserve_stock(order_id=order_id, lines=[(product.pk, 3)])
    services.release_stock(order_id=order_id)

    again = services.reserve_stock(order_id=order_id, lines=[(product.pk, 3)])

    assert again.repeated
    assert _stock(product) == [3]


def test_release_returns_stock_to_a_deactivated_product():
    product = ProductFactory(stock=3)
    order_id = new_order_id()
    services.reserve_stock(order_id=order_id, lines=[(product.pk, 2)])
    services.deactivate_product(product_id=product.pk)

    services.release_stock(order_id=order_id)

    assert _stock(product) == [3]


@pytest.mark.parametrize("lines", [[], [(1, 0)], [(1, -2)], [(0, 1)]])
def test_a_reservation_without_lines_or_with_non_positive_numbers_is_refused(lines):
    with pytest.raises(services.InvalidReservation):
        services.reserve_stock(order_id=new_order_id(), lines=lines)
    assert published() == []


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stocks=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=5),
    picks=st.lists(
        st.tuples(st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=12)),
        min_size=1,
        max_size=8,
    ),
)
def test_reserve_then_release_returns_every_stock_to_exactly_where_it_started(stocks, picks):
    products = [ProductFactory(stock=s) for s in stocks]
    lines = [(products[i % len(products)].pk, quantity) for i, quantity in picks]
    wanted: dict[int, int] = {}
    for product_id, quantity in lines:
        wanted[product_id] = wanted.get(product_id, 0) + quantity
    start = {p.pk: p.stock for p in products}
    order_id = new_order_id()

    result = services.reserve_stock(order_id=order_id, lines=lines)

    after = {p.pk: Product.objects.get(pk=p.pk).stock for p in products}
    fits = all(start[pid] >= qty for pid, qty in wanted.items())
    assert result.reserved == fits
    if fits:  # all lines taken ...
        assert after == {pid: start[pid] - wanted.get(pid, 0) for pid in start}
    else:  # ... or none
        assert after == start

    services.release_stock(order_id=order_id)

    assert {p.pk: Product.objects.get(pk=p.pk).stock for p in products} == start


@pytest.mark.django_db(transaction=True, databases=[ALIAS])
def test_concurrent_orders_for_the_last_units_never_oversell():
    units, buyers = 3, 8
    product = ProductFactory(stock=units)
    other = ProductFactory(stock=100)
    handler = get_handler("catalog.on_order_placed")
    start = threading.Barrier(buyers)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def buy(order_id: int) -> None:
        try:
            start.wait()
            # Two products per order, listed in opposite orders by alternate buyers: the
            # product_id lock order must keep them from deadlocking.
            lines = [(product.pk, 1), (other.pk, 1)]
            event = order_placed(order_id, lines if order_id % 2 else lines[::-1])
            outcomes.append(deliver(event, handler))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=buy, args=(new_order_id(),)) for _ in range(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert outcomes == [Outcome.APPLIED] * buyers
    assert not DeadLetter.objects.using(ALIAS).exists()
    reserved = sum(ReservationLine.objects.filter(product=product).values_list("quantity", flat=True))
    assert reserved == units
    assert _stock(product) == [0]
    assert _stock(other) == [100 - units]
    assert len(published(services.STOCK_RESERVED)) == units
    assert len(published(services.STOCK_REJECTED)) == buyers - units
