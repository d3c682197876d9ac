"""delivery consuming orders' events: one shipment per confirmed order, cancel before pickup."""

from __future__ import annotations

import pytest

from delivery.models import Shipment, ShipmentStatus
from delivery.tests.factories import ShipmentFactory, order_cancelled, order_confirmed
from events.inbox.apply import Outcome
from events.inbox.deliver import deliver
from events.registry import get_handler

pytestmark = pytest.mark.django_db(databases=["delivery"])


def on_confirmed():
    return get_handler("delivery.on_order_confirmed")


def on_cancelled():
    return get_handler("delivery.on_order_cancelled")


def test_order_confirmed_creates_a_shipment_with_its_creation_in_the_history(events_published):
    event = order_confirmed(order_id=41, customer_id=9, address="12 Rue de la Paix, Paris")

    assert deliver(event, on_confirmed()) == Outcome.APPLIED

    shipment = Shipment.objects.get(order_id=41)
    assert (shipment.customer_id, shipment.address, shipment.status) == (
        9,
        "12 Rue de la Paix, Paris",
        ShipmentStatus.CREATED,
    )
    assert shipment.tracking_code.startswith("SHP-")
    assert [h.status for h in shipment.history.all()] == [ShipmentStatus.CREATED]
    assert events_published() == [
        (
            "shipment_created",
            {
                "shipment_id": shipment.id,
                "order_id": 41,
                "tracking_code": shipment.tracking_code,
                "at": shipment.history.get().at.isoformat(),
            },
        )
    ]


def test_redelivered_order_confirmed_changes_nothing(events_published):
    event = order_confirmed(order_id=42)

    assert deliver(event, on_confirmed()) == Outcome.APPLIED
    assert deliver(event, on_confirmed()) == Outcome.DUPLICATE

    assert Shipment.objects.filter(order_id=42).count() == 1
    assert [t for t, _ in events_published()] == ["shipment_created"]


def test_a_second_confirmation_of_the_same_order_still_makes_one_shipment(events_published):
    # A different event id gets past the inbox: the service itself is idempotent per order.
    deliver(order_confirmed(order_id=43, address="first"), on_confirmed())
    assert deliver(order_confirmed(order_id=43, address="second"), on_confirmed()) == Outcome.APPLIED

    assert list(Shipment.objects.filter(order_id=43).values_list("address", flat=True)) == ["first"]
    assert [t for t, _ in events_published()] == ["shipment_created"]


def test_order_cancelled_before_pickup_cancels_the_shipment(events_published):
    deliver(order_confirmed(order_id=44), on_confirmed())

    assert deliver(order_cancelled(order_id=44), on_cancelled()) == Outcome.APPLIED

    shipment = Shipment.objects.get(order_id=44)
    assert shipment.status == ShipmentStatus.CANCELLED
    assert [h.status for h in shipment.history.all()] == [ShipmentStatus.CREATED, ShipmentStatus.CANCELLED]
    assert [t for t, _ in events_published()] == ["shipment_created", "shipment_cancelled"]
    assert events_published()[-1][1]["shipment_id"] == shipment.id


def test_order_cancelled_after_pickup_leaves_the_shipment(events_published):
    shipment = ShipmentFactory(status=ShipmentStatus.PICKED_UP)

    assert deliver(order_cancelled(order_id=shipment.order_id), on_cancelled()) == Outcome.APPLIED

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PICKED_UP
    assert shipment.history.count() == 2
    assert events_published() == []


def test_order_cancelled_before_confirmation_is_a_no_op(events_published):
    assert deliver(order_cancelled(order_id=45), on_cancelled()) == Outcome.APPLIED

    assert not Shipment.objects.exists()
    assert events_published() == []


def test_cancelling_twice_publishes_one_cancellation(events_published):
    shipment = ShipmentFactory()

    deliver(order_cancelled(order_id=shipment.order_id), on_cancelled())
    deliver(order_cancelled(order_id=shipment.order_id, reason="timed out"), on_cancelled())

    assert [t for t, _ in events_published()] == ["shipment_cancelled"]
    assert shipment.history.count() == 2
