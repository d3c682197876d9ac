"""No shipment depends on a timer in Redis or in a worker's memory alone: the database records
when each automatic step is due, and the sweep queues again every step that is overdue."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from delivery import services, tasks
from delivery.models import Shipment, ShipmentStatus
from delivery.tests.factories import ShipmentFactory, order_confirmed
from events.inbox.apply import Outcome
from events.inbox.deliver import deliver
from events.registry import get_handler

S = ShipmentStatus
pytestmark = pytest.mark.django_db(databases=["delivery"])


@pytest.fixture
def steps_lost():
    """Queuing a step seems to work, but the step never runs (Redis or its worker died)."""
    with mock.patch.object(tasks.progress_shipment, "apply_async") as apply_async:
        yield apply_async


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def test_a_new_shipment_records_when_its_first_step_is_due(settings, steps_lost):
    settings.DELIVERY_STEP_SECONDS = 30
    before = timezone.now()
    shipment = services.create_shipment(order_id=1, customer_id=2, address="x")

    assert before + timedelta(seconds=30) <= shipment.next_step_due_at <= later(30)


def test_a_lost_step_is_queued_again_once_it_is_overdue(
    settings, steps_lost, django_capture_on_commit_callbacks
):
    settings.DELIVERY_STEP_SECONDS = 30
    settings.DELIVERY_STALLED_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=True, using="delivery"):
        shipment = services.create_shipment(order_id=1, customer_id=2, address="x")
    steps_lost.reset_mock()

    # Due in 30 s; not overdue until 60 s after that.
    with django_capture_on_commit_callbacks(execute=True, using="delivery"):
        assert services.resume_stalled_shipments(now=later(80)) == []
    steps_lost.assert_not_called()

    with django_capture_on_commit_callbacks(execute=True, using="delivery"):
        assert services.resume_stalled_shipments(now=later(95)) == [shipment.id]
    steps_lost.assert_called_once_with(args=[shipment.id, "CREATED"], countdown=0)


def test_a_re_driven_step_is_not_queued_again_until_it_is_overdue_again(
    settings, steps_lost, django_capture_on_commit_callbacks
):
    settings.DELIVERY_STALLED_AFTER_SECONDS = 60
    shipment = ShipmentFactory(status=S.PICKED_UP, next_step_due_at=later(-120))
    with django_capture_on_commit_callbacks(execute=True, using="delivery"):
        assert services.resume_stalled_shipments() == [shipment.id]
        # A busy queue: the step is still waiting. The next sweeps leave it alone...
        assert services.resume_stalled_shipments(now=later(30)) == []
        # ...until it is overdue once more (lost again).
        assert services.resume_stalled_shipments(now=later(125)) == [shipment.id]
    assert steps_lost.call_args_list == [mock.call(args=[shipment.id, "PICKED_UP"], countdown=0)] * 2


def test_the_sweep_leaves_finished_cancelled_and_staff_driven_shipments_alone(settings, steps_lost):
    settings.DELIVERY_STEP_SECONDS = 1
    settings.DELIVERY_STALLED_AFTER_SECONDS = 1
    moving = services.create_shipment(order_id=1, customer_id=2, address="x")
    by_staff = services.create_shipment(order_id=2, customer_id=2, address="x")
    services.advance_shipment(shipment_id=by_staff.id)  # by hand: staff drive it from now on
    cancelled = services.create_shipment(order_id=3, customer_id=2, address="x")
    services.cancel_shipment(order_id=3)
    done = ShipmentFactory(status=S.IN_TRANSIT, next_step_due_at=later(-1))
    tasks.progress_shipment(done.id, S.IN_TRANSIT)  # -> DELIVERED: nothing more is due

    due = dict(Shipment.objects.values_list("id", "next_step_due_at"))
    assert due[moving.id] is not None
    assert due[by_staff.id] is None
    assert due[cancelled.id] is None
    assert due[done.id] is None

    assert services.resume_stalled_shipments(now=later(3600)) == [moving.id]


def test_a_step_that_cannot_be_queued_after_the_commit_keeps_the_change_and_is_re_driven(
    settings, caplog, django_capture_on_commit_callbacks
):
    settings.DELIVERY_STEP_SECONDS = 1
    settings.DELIVERY_STALLED_AFTER_SECONDS = 1
    redis_down = BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with (
        mock.patch.object(tasks.progress_shipment, "apply_async", side_effect=redis_down),
        django_capture_on_commit_callbacks(execute=True, using="delivery"),
    ):
        outcome = deliver(order_confirmed(order_id=61), get_handler("delivery.on_order_confirmed"))

    # The shipment is committed and the event applied once: not an error to retry (which would
    # find its inbox row and take it for a duplicate), only a step to re-drive.
    assert outcome is Outcome.APPLIED
    shipment = Shipment.objects.get(order_id=61)
    assert shipment.status == S.CREATED
    assert "the sweep will resume it" in caplog.text

    # Redis is back: the sweep queues the step (eager here: it runs), and the chain goes on.
    with django_capture_on_commit_callbacks(execute=True, using="delivery"):
        tasks.resume_stalled_shipments.apply()  # too early: nothing overdue yet
        assert Shipment.objects.get(order_id=61).status == S.CREATED
        services.resume_stalled_shipments(now=later(5))
    shipment.refresh_from_db()
    assert shipment.status == S.DELIVERED
    assert shipment.next_step_due_at is None


def test_beat_sweeps_twice_per_grace_period(settings):
    sweep = settings.CELERY_BEAT_SCHEDULE["resume-stalled-shipments"]
    assert sweep["task"] == "delivery.tasks.resume_stalled_shipments"
    assert sweep["schedule"] == max(settings.DELIVERY_STALLED_AFTER_SECONDS / 2, 5.0)
