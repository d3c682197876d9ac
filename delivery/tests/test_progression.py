"""The automatic progression: Celery tasks move a shipment to DELIVERED, one idempotent step each.

In tests Celery is eager, so a scheduled step runs as soon as its on_commit callback fires.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from delivery import services, tasks
from delivery.models import Shipment, ShipmentStatus
from delivery.tests.factories import ShipmentFactory, order_cancelled, order_confirmed
from events.inbox.deliver import deliver
from events.registry import get_handler

S = ShipmentStatus


@pytest.fixture
def eager_retries():
    """Let eager apply() run Celery's retries in-line (countdowns are not waited for).

    With task_eager_propagates on (the test setting) an eager retry raises celery's Retry
    instead of running the task again, so the retry policy could not be observed.
    """
    conf = tasks.progress_shipment.app.conf
    propagates = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = propagates


def history(shipment: Shipment) -> list[str]:
    return list(shipment.history.values_list("status", flat=True))


@pytest.mark.django_db(databases=["delivery"], transaction=True)
def test_confirmed_order_ships_through_to_delivered_publishing_every_step_in_order(events_published):
    # transaction=True: the handler's transaction really commits, its on_commit schedules the first
    # step, and each eager step commits and schedules the next: the whole chain, for real.
    deliver(order_confirmed(order_id=51), get_handler("delivery.on_order_confirmed"))

    shipment = Shipment.objects.get(order_id=51)
    assert shipment.status == S.DELIVERED
    assert history(shipment) == [S.CREATED, S.PICKED_UP, S.IN_TRANSIT, S.DELIVERED]
    published = events_published()
    assert [t for t, _ in published] == [
        "shipment_created",
        "shipment_picked_up",
        "shipment_in_transit",
        "shipment_delivered",
    ]
    assert {d["shipment_id"] for _, d in published} == {shipment.id}
    assert {d["tracking_code"] for _, d in published} == {shipment.tracking_code}


@pytest.mark.django_db(databases=["delivery"])
def test_the_progression_starts_only_once_the_creation_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(using="delivery") as on_commit:
        shipment = services.create_shipment(order_id=52, customer_id=3, address="x")

    shipment.refresh_from_db()
    assert shipment.status == S.CREATED  # eager Celery, yet nothing ran inside the transaction

    # Now "commit": the captured callbacks run, and with them every step they schedule.
    with django_capture_on_commit_callbacks(using="delivery", execute=True):
        for callback in on_commit:
            callback()

    shipment.refresh_from_db()
    assert shipment.status == S.DELIVERED
    assert history(shipment) == [S.CREATED, S.PICKED_UP, S.IN_TRANSIT, S.DELIVERED]


@pytest.mark.django_db(databases=["delivery"])
def test_each_step_is_enqueued_with_the_configured_delay(settings, django_capture_on_commit_callbacks):
    settings.DELIVERY_STEP_SECONDS = 7.5
    with (
        mock.patch.object(tasks.progress_shipment, "apply_async") as apply_async,
        django_capture_on_commit_callbacks(using="delivery", execute=True),
    ):
        shipment = services.create_shipment(order_id=53, customer_id=3, address="x")

    apply_async.assert_called_once_with(args=[shipment.id, "CREATED"], countdown=7.5)


@pytest.mark.django_db(databases=["delivery"])
def test_duplicate_progress_task_changes_nothing(events_published):
    shipment = ShipmentFactory(status=S.CREATED)

    assert tasks.progress_shipment.delay(shipment.id, S.CREATED).get() == S.PICKED_UP
    assert tasks.progress_shipment.delay(shipment.id, S.CREATED).get() is None

    shipment.refresh_from_db()
    assert shipment.status == S.PICKED_UP
    assert history(shipment) == [S.CREATED, S.PICKED_UP]
    assert [t for t, _ in events_published()] == ["shipment_picked_up"]


@pytest.mark.django_db(databases=["delivery"])
def test_late_task_for_a_step_staff_already_made_changes_nothing(events_published):
    shipment = ShipmentFactory(status=S.CREATED)
    services.advance_shipment(shipment_id=shipment.id)  # staff, by hand: PICKED_UP

    assert tasks.progress_shipment.delay(shipment.id, S.CREATED).get() is None

    shipment.refresh_from_db()
    assert shipment.status == S.PICKED_UP
    assert [t for t, _ in events_published()] == ["shipment_picked_up"]


@pytest.mark.django_db(databases=["delivery"])
def test_progress_task_for_a_missing_shipment_does_nothing(events_published):
    assert tasks.progress_shipment.delay(999_999, S.CREATED).get() is None
    assert events_published() == []


@pytest.mark.django_db(databases=["delivery"])
def test_cancel_before_pickup_stops_the_progression(django_capture_on_commit_callbacks, events_published):
    confirmed = order_confirmed(order_id=54)
    with django_capture_on_commit_callbacks(using="delivery") as scheduled:
        deliver(confirmed, get_handler("delivery.on_order_confirmed"))
    deliver(order_cancelled(order_id=54), get_handler("delivery.on_order_cancelled"))

    # The first step, scheduled at creation, fires after the cancel: it must find nothing to do.
    with django_capture_on_commit_callbacks(using="delivery", execute=True):
        for callback in scheduled:
            callback()

    shipment = Shipment.objects.get(order_id=54)
    assert shipment.status == S.CANCELLED
    assert history(shipment) == [S.CREATED, S.CANCELLED]
    assert [t for t, _ in events_published()] == ["shipment_created", "shipment_cancelled"]


@pytest.mark.django_db(databases=["delivery"])
def test_cancel_after_pickup_leaves_the_progression_running(
    django_capture_on_commit_callbacks, events_published
):
    shipment = ShipmentFactory(status=S.CREATED)
    with django_capture_on_commit_callbacks(using="delivery") as scheduled:
        tasks.progress_shipment.delay(shipment.id, S.CREATED)

    deliver(order_cancelled(order_id=shipment.order_id), get_handler("delivery.on_order_cancelled"))
    with django_capture_on_commit_callbacks(using="delivery", execute=True):
        for callback in scheduled:
            callback()

    shipment.refresh_from_db()
    assert shipment.status == S.DELIVERED
    assert [t for t, _ in events_published()] == [
        "shipment_picked_up",
        "shipment_in_transit",
        "shipment_delivered",
    ]


@pytest.mark.django_db(databases=["delivery"])
def test_progress_task_retries_transient_database_errors_then_gives_up(eager_retries):
    shipment = ShipmentFactory(status=S.CREATED)
    locked = OperationalError("database is locked")
    with mock.patch.object(services, "advance_shipment", side_effect=locked) as advance:
        result = tasks.progress_shipment.apply(args=[shipment.id, S.CREATED])

    assert result.failed()
    assert isinstance(result.result, OperationalError)
    assert advance.call_count == 1 + 5
    shipment.refresh_from_db()
    assert shipment.status == S.CREATED


@pytest.mark.django_db(databases=["delivery"])
def test_progress_task_succeeds_after_a_transient_database_error(eager_retries, events_published):
    shipment = ShipmentFactory(status=S.CREATED)
    real_advance = services.advance_shipment
    failures = iter([OperationalError("database is locked")])

    def fail_once(**kwargs):
        error = next(failures, None)
        if error is not None:
            raise error
        return real_advance(**kwargs)

    with mock.patch.object(services, "advance_shipment", side_effect=fail_once) as advance:
        result = tasks.progress_shipment.apply(args=[shipment.id, S.CREATED])

    assert result.successful()
    assert result.result == S.PICKED_UP
    assert advance.call_count == 2
    assert [t for t, _ in events_published()] == ["shipment_picked_up"]


@pytest.mark.django_db(databases=["delivery"], transaction=True)
def test_a_shipment_whose_step_was_lost_is_resumed_and_still_moves_each_step_once(events_published):
    # Its scheduled step died with a worker's in-memory queue: nothing moved it for a long time.
    stalled = ShipmentFactory(status=S.PICKED_UP)
    recent = ShipmentFactory(status=S.CREATED)
    done = ShipmentFactory(status=S.DELIVERED)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Shipment.objects.filter(pk=stalled.pk).update(updated_at=an_hour_ago, next_step_due_at=an_hour_ago)
    Shipment.objects.filter(pk=done.pk).update(updated_at=an_hour_ago)
    Shipment.objects.filter(pk=recent.pk).update(next_step_due_at=timezone.now() + timedelta(seconds=30))

    assert tasks.resume_stalled_shipments() == 1  # eager Celery: it runs to DELIVERED at once
    stalled.refresh_from_db()
    assert stalled.status == S.DELIVERED
    assert Shipment.objects.get(pk=recent.pk).status == S.CREATED  # its step is not late yet
    assert Shipment.objects.get(pk=done.pk).status == S.DELIVERED
    # A second sweep, or the lost task turning up after all, changes nothing.
    assert tasks.resume_stalled_shipments() == 0
    assert tasks.progress_shipment(stalled.pk, S.PICKED_UP) is None
    assert history(stalled).count(S.DELIVERED) == 1
