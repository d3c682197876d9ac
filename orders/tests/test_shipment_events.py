"""Orders follows its shipment forward only: picked up -> SHIPPED, delivered -> DELIVERED."""

import pytest

from orders.models import Order
from orders.tests.factories import OrderFactory
from orders.tests.helpers import DBS, feed, published, saga_observations, shipment_event

pytestmark = pytest.mark.django_db(databases=DBS)

Status = Order.Status
SHIPPED = "shop.orders.order_shipped.v1"
DELIVERED = "shop.orders.order_delivered.v1"


def test_shipment_created_records_the_shipment_on_the_order():
    order = OrderFactory(status=Status.CONFIRMED)

    feed("on_shipment_created", shipment_event("created", order.pk, shipment_id=7, tracking_code="TRK-7"))

    order.refresh_from_db()
    assert (order.status, order.shipment_id, order.tracking_code) == ("CONFIRMED", 7, "TRK-7")
    assert published() == []


def test_shipment_created_for_a_cancelled_order_is_ignored():
    order = OrderFactory(status=Status.CANCELLED)

    feed("on_shipment_created", shipment_event("created", order.pk))

    order.refresh_from_db()
    assert (order.status, order.shipment_id, order.tracking_code) == ("CANCELLED", None, None)


def test_picked_up_ships_the_order_and_publishes_order_shipped():
    order = OrderFactory(status=Status.CONFIRMED)
    feed("on_shipment_created", shipment_event("created", order.pk, shipment_id=7, tracking_code="TRK-7"))

    feed("on_shipment_picked_up", shipment_event("picked_up", order.pk, shipment_id=7, tracking_code="TRK-7"))

    order.refresh_from_db()
    assert (order.status, order.shipment_id, order.tracking_code) == ("SHIPPED", 7, "TRK-7")
    assert published(SHIPPED) == [{"order_id": order.pk, "shipment_id": 7, "tracking_code": "TRK-7"}]


def test_delivered_delivers_the_order_and_publishes_order_delivered():
    order = OrderFactory(status=Status.SHIPPED, shipment_id=7, tracking_code="TRK-7")

    feed("on_shipment_delivered", shipment_event("delivered", order.pk, shipment_id=7))

    assert Order.objects.get(pk=order.pk).status == "DELIVERED"
    assert published(DELIVERED) == [{"order_id": order.pk, "shipment_id": 7}]


def test_delivering_an_order_observes_the_seconds_since_it_was_placed(django_capture_on_commit_callbacks):
    order = OrderFactory(status=Status.SHIPPED, shipment_id=7, tracking_code="TRK-7")
    count, total = saga_observations("DELIVERED")

    with django_capture_on_commit_callbacks(using="orders", execute=True):
        feed("on_shipment_delivered", shipment_event("delivered", order.pk, shipment_id=7))

    new_count, new_total = saga_observations("DELIVERED")
    assert new_count == count + 1
    assert 0 <= new_total - total < 60  # placed a moment ago


def test_the_whole_shipment_moves_the_order_to_delivered_in_order():
    order = OrderFactory(status=Status.CONFIRMED)

    for fact in ("created", "picked_up", "delivered"):  # orders has no use for in_transit
        feed(f"on_shipment_{fact}", shipment_event(fact, order.pk))

    assert Order.objects.get(pk=order.pk).status == "DELIVERED"
    assert [e["order_id"] for e in published(SHIPPED) + published(DELIVERED)] == [order.pk, order.pk]


def test_a_late_pickup_never_moves_a_delivered_order_back():
    order = OrderFactory(status=Status.DELIVERED, shipment_id=7, tracking_code="TRK-7")

    feed("on_shipment_picked_up", shipment_event("picked_up", order.pk))

    assert Order.objects.get(pk=order.pk).status == "DELIVERED"
    assert published() == []


def test_delivery_without_a_seen_pickup_still_moves_forward():
    # The pickup event may be parked as a dead letter; delivered is the truth and is forward.
    order = OrderFactory(status=Status.CONFIRMED)

    feed("on_shipment_delivered", shipment_event("delivered", order.pk))

    assert Order.objects.get(pk=order.pk).status == "DELIVERED"
    assert len(published(DELIVERED)) == 1


@pytest.mark.parametrize("status", [Status.PENDING, Status.CANCELLED, Status.REJECTED])
@pytest.mark.parametrize("fact", ["picked_up", "delivered"])
def test_shipment_progress_is_ignored_unless_the_order_was_confirmed(status, fact):
    order = OrderFactory(status=status)

    feed(f"on_shipment_{fact}", shipment_event(fact, order.pk))

    assert Order.objects.get(pk=order.pk).status == status
    assert published() == []


def test_redelivered_pickup_publishes_order_shipped_once():
    order = OrderFactory(status=Status.CONFIRMED)
    evt = shipment_event("picked_up", order.pk)

    feed("on_shipment_picked_up", evt)
    feed("on_shipment_picked_up", evt)
    feed("on_shipment_picked_up", shipment_event("picked_up", order.pk))  # same fact, new event id

    assert len(published(SHIPPED)) == 1
