"""The shipment state machine and tracking codes."""

from __future__ import annotations

import itertools
import re

import pytest
from django.db import IntegrityError, transaction

from delivery import services
from delivery.models import Shipment, ShipmentStatus, ShipmentStatusChange, new_tracking_code
from delivery.tests.factories import ShipmentFactory
from events.models import OutboxEvent

S = ShipmentStatus
pytestmark = pytest.mark.django_db(databases=["delivery"])

LEGAL = {(S.CREATED, S.PICKED_UP), (S.PICKED_UP, S.IN_TRANSIT), (S.IN_TRANSIT, S.DELIVERED)}


@pytest.mark.parametrize(("current", "requested"), list(itertools.product(S.values, S.values)))
def test_only_the_next_forward_step_is_legal(current, requested, events_published):
    # Every (status, requested status) pair: the state machine, exhaustively.
    shipment = ShipmentFactory(status=current)
    before = list(shipment.history.values_list("status", flat=True))

    if (current, requested) in LEGAL:
        services.advance_shipment(shipment_id=shipment.id, to_status=requested)
        shipment.refresh_from_db()
        assert shipment.status == requested
        assert list(shipment.history.values_list("status", flat=True)) == [*before, requested]
        assert [t for t, _ in events_published()] == [services.EVENT_FOR_STATUS[requested].split(".")[2]]
    else:
        with pytest.raises(services.InvalidTransition) as raised:
            services.advance_shipment(shipment_id=shipment.id, to_status=requested)
        assert raised.value.current == current
        shipment.refresh_from_db()
        assert shipment.status == current
        assert list(shipment.history.values_list("status", flat=True)) == before
        assert events_published() == []


@pytest.mark.parametrize(
    ("current", "expected_next"),
    [(S.CREATED, S.PICKED_UP), (S.PICKED_UP, S.IN_TRANSIT), (S.IN_TRANSIT, S.DELIVERED)],
)
def test_advancing_without_a_status_takes_the_next_step(current, expected_next):
    shipment = ShipmentFactory(status=current)

    assert services.advance_shipment(shipment_id=shipment.id).status == expected_next


@pytest.mark.parametrize("final", [S.DELIVERED, S.CANCELLED])
def test_a_final_shipment_cannot_advance(final):
    shipment = ShipmentFactory(status=final)

    with pytest.raises(services.InvalidTransition, match="cannot move any further"):
        services.advance_shipment(shipment_id=shipment.id)


def test_advancing_from_an_unexpected_status_changes_nothing(events_published):
    shipment = ShipmentFactory(status=S.PICKED_UP)

    with pytest.raises(services.InvalidTransition):
        services.advance_shipment(shipment_id=shipment.id, expected_from=S.CREATED)

    shipment.refresh_from_db()
    assert shipment.status == S.PICKED_UP
    assert events_published() == []


def test_advancing_a_missing_shipment_raises_not_found():
    with pytest.raises(services.ShipmentNotFound):
        services.advance_shipment(shipment_id=424242)


def test_create_shipment_is_idempotent_per_order(events_published):
    first = services.create_shipment(order_id=60, customer_id=1, address="a")
    again = services.create_shipment(order_id=60, customer_id=1, address="a")

    assert again.pk == first.pk
    assert Shipment.objects.count() == 1
    assert ShipmentStatusChange.objects.count() == 1
    assert [t for t, _ in events_published()] == ["shipment_created"]


def test_a_status_is_reached_at_most_once_per_shipment():
    shipment = ShipmentFactory(status=S.PICKED_UP)

    with pytest.raises(IntegrityError), transaction.atomic(using="delivery"):
        ShipmentStatusChange.objects.create(shipment=shipment, status=S.PICKED_UP)


def test_the_database_refuses_an_unknown_status():
    shipment = ShipmentFactory()

    with pytest.raises(IntegrityError), transaction.atomic(using="delivery"):
        Shipment.objects.filter(pk=shipment.pk).update(status="LOST")


def test_tracking_codes_are_unique_and_well_formed():
    shipments = [services.create_shipment(order_id=n, customer_id=1, address="a") for n in range(1, 201)]

    codes = [s.tracking_code for s in shipments]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"SHP-[A-Z2-7]{16}", code) for code in codes)


def test_the_database_refuses_a_duplicate_tracking_code():
    code = new_tracking_code()
    ShipmentFactory(tracking_code=code)

    with pytest.raises(IntegrityError), transaction.atomic(using="delivery"):
        ShipmentFactory(tracking_code=code)


def test_a_shipment_and_its_event_roll_back_together():
    def create_then_fail() -> None:
        with transaction.atomic(using="delivery"):
            services.create_shipment(order_id=61, customer_id=1, address="a")
            raise RuntimeError("the caller's transaction fails after the service ran")

    with pytest.raises(RuntimeError):
        create_then_fail()

    assert not Shipment.objects.filter(order_id=61).exists()
    assert not OutboxEvent.objects.using("delivery").exists()
