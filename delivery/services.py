"""Commands of delivery: create, advance and cancel shipments.

Each command runs in one transaction on the `delivery` database and publishes its event inside
it, so a status change and its event commit (or roll back) together.

Automatic progression: the transaction that reaches a status also records when the next step is
due (`Shipment.next_step_due_at`), and once it has committed, queues that step in Celery for then.
Queuing can fail after the commit (Redis down) and a queued step can be lost (Redis or a worker
killed): that is logged, never raised into the caller whose change is already committed, and
the sweep (`resume_stalled_shipments`) queues again every step that is overdue by the database's
account. Steps name the status they start from, so a step queued twice happens once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivery.apps import ALIAS
from delivery.models import Shipment, ShipmentStatus, ShipmentStatusChange
from events import publish, tracing
from shop import event_types
from shop.statements import insert_many, insert_unless_exists

log = logging.getLogger(__name__)


# The only legal forward steps. CANCELLED is reached through cancel_shipment(), never advanced to.
NEXT_STATUS: dict[str, str] = {
    ShipmentStatus.CREATED: ShipmentStatus.PICKED_UP,
    ShipmentStatus.PICKED_UP: ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.IN_TRANSIT: ShipmentStatus.DELIVERED,
}
ADVANCE_TARGETS: tuple[str, ...] = tuple(NEXT_STATUS.values())

EVENT_FOR_STATUS: dict[str, str] = {
    ShipmentStatus.CREATED: event_types.SHIPMENT_CREATED,
    ShipmentStatus.PICKED_UP: event_types.SHIPMENT_PICKED_UP,
    ShipmentStatus.IN_TRANSIT: event_types.SHIPMENT_IN_TRANSIT,
    ShipmentStatus.DELIVERED: event_types.SHIPMENT_DELIVERED,
    ShipmentStatus.CANCELLED: event_types.SHIPMENT_CANCELLED,
}


class DeliveryError(Exception):
    """Base of delivery's domain errors."""


class ShipmentNotFound(DeliveryError):
    pass


class InvalidTransition(DeliveryError):
    """The shipment's current status does not allow the requested step (API: 409)."""

    def __init__(self, reason: str, *, current: str, requested: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.current = current
        self.requested = requested


def create_shipment(*, order_id: int, customer_id: int, address: str) -> Shipment:
    """Create the shipment of a confirmed order, or return the one it already has.

    Idempotent per order_id (unique in the database): a second call, even racing the first,
    writes nothing and publishes nothing. A new shipment records its CREATED history row,
    publishes `shipment_created`, is due for its first automatic step DELIVERY_STEP_SECONDS
    later and, once committed, has that step queued.
    """
    # No savepoint: what fails in here fails the caller's transaction too (a handler's, whose
    # event is then retried whole), and a savepoint was two more round trips per order.
    with transaction.atomic(using=ALIAS, savepoint=False):
        shipment = Shipment(
            order_id=order_id, customer_id=customer_id, address=address, next_step_due_at=_due()
        )
        # order_id is unique: a repeat, even one racing this call, inserts nothing.
        if not insert_unless_exists(shipment, unique=("order_id",), using=ALIAS):
            return Shipment.objects.get(order_id=order_id)
        _record(shipment, ShipmentStatus.CREATED, note="order confirmed")
        _schedule_step(shipment.id, ShipmentStatus.CREATED)
    return shipment


def advance_shipment(
    *,
    shipment_id: int,
    to_status: str | None = None,
    expected_from: str | None = None,
    schedule_next: bool = False,
) -> Shipment:
    """Move a shipment one step forward (to `to_status`, default: the next status).

    Legal steps only: CREATED -> PICKED_UP -> IN_TRANSIT -> DELIVERED, one at a time; anything
    else raises InvalidTransition and writes nothing. With `expected_from`, the step happens only
    if the shipment is still in that status (how a duplicate or late task becomes a no-op).
    Records the history row and publishes the step's event in one transaction. With
    `schedule_next` (the automatic progression), the following step is due DELIVERY_STEP_SECONDS
    later and queued after commit; a manual step (the staff API) hands the shipment over to
    staff: no step is due any more, and any pending automatic step finds nothing to do.
    Raises ShipmentNotFound.
    """
    with transaction.atomic(using=ALIAS):
        # The row lock serializes concurrent steps on one shipment (a task and the staff API).
        shipment = Shipment.objects.select_for_update().filter(pk=shipment_id).first()
        if shipment is None:
            raise ShipmentNotFound(f"shipment {shipment_id} does not exist")
        current = shipment.status
        if expected_from is not None and current != expected_from:
            raise InvalidTransition(
                f"shipment is {current}, not {expected_from}: this step already happened or was overtaken",
                current=current,
                requested=to_status,
            )
        target = NEXT_STATUS.get(current)
        if target is None:
            raise InvalidTransition(
                f"a {current} shipment cannot move any further", current=current, requested=to_status
            )
        if to_status is not None and to_status != target:
            raise InvalidTransition(
                f"a {current} shipment can only move to {target}, not {to_status}",
                current=current,
                requested=to_status,
            )
        moves_on = schedule_next and target in NEXT_STATUS
        shipment.status = target
        shipment.next_step_due_at = _due() if moves_on else None
        shipment.save(update_fields=["status", "next_step_due_at", "updated_at"])
        _record(shipment, target, note="automatic progression" if schedule_next else "")
        if moves_on:
            _schedule_step(shipment.id, target)
    return shipment


def cancel_shipment(*, order_id: int) -> Shipment | None:
    """Cancel the shipment of a cancelled order if it has not been picked up yet.

    - no shipment: nothing to do (the order was cancelled before it was confirmed); returns None;
    - CREATED: -> CANCELLED, history row, `shipment_cancelled`; the pending automatic step then
      finds the shipment no longer CREATED and does nothing;
    - already CANCELLED: nothing (idempotent, no second event);
    - picked up or later: left as it is, logged.

    Race, by design of the choreography: orders accepts a cancel while it believes the order is
    CONFIRMED, but it learns about the pickup only when `shipment_picked_up` reaches it. A pickup
    that happened before this cancel arrived cannot be undone here; delivery stays the source of
    truth for the parcel and keeps delivering it, and orders ignores the shipment's events for a
    cancelled order. Reconciling that (a return or refund) is a business process outside this
    service, hence the warning in the log rather than an error that would only park the event.
    """
    with transaction.atomic(using=ALIAS):
        shipment = Shipment.objects.select_for_update().filter(order_id=order_id).first()
        if shipment is None:
            log.info("order %s cancelled before any shipment existed: nothing to cancel", order_id)
            return None
        if shipment.status == ShipmentStatus.CANCELLED:
            return shipment
        if shipment.status != ShipmentStatus.CREATED:
            log.warning(
                "order %s was cancelled but shipment %s is already %s: leaving it",
                order_id,
                shipment.tracking_code,
                shipment.status,
            )
            return shipment
        shipment.status = ShipmentStatus.CANCELLED
        shipment.next_step_due_at = None
        shipment.save(update_fields=["status", "next_step_due_at", "updated_at"])
        _record(shipment, ShipmentStatus.CANCELLED, note="order cancelled")
    return shipment


def _record(shipment: Shipment, status: str, *, note: str = "") -> None:
    """The history row of a status the shipment just reached, and the event announcing it."""
    at = timezone.now()
    insert_many([ShipmentStatusChange(shipment=shipment, status=status, at=at, note=note)], using=ALIAS)
    publish(
        EVENT_FOR_STATUS[status],
        key=shipment.id,
        data={
            "shipment_id": shipment.id,
            "order_id": shipment.order_id,
            "tracking_code": shipment.tracking_code,
            "at": at.isoformat(),
        },
        using=ALIAS,
    )


def resume_stalled_shipments(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Queue again the automatic step of every shipment whose step is overdue by more than
    DELIVERY_STALLED_AFTER_SECONDS: it was lost (Redis or a worker killed, Redis down when it was
    to be queued, its retries used up in a database outage, a queue renamed by a move). At most
    `limit`, most overdue first. Each gets a new due time DELIVERY_STALLED_AFTER_SECONDS later, so
    a step lost again is resumed again, but one merely waiting in a busy queue is not queued over
    and over. Returns the ids of the shipments resumed.

    Safe to run concurrently (rows locked with SKIP LOCKED go to one sweep) and as often as
    wanted: a step queued twice happens once (it names the status it starts from).
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.DELIVERY_STALLED_AFTER_SECONDS)
    with transaction.atomic(using=ALIAS):
        overdue = list(
            Shipment.objects.select_for_update(skip_locked=True)
            .filter(next_step_due_at__lt=now - grace)
            .order_by("next_step_due_at")
            .values_list("id", "status")[:limit]
        )
        if not overdue:
            return []
        Shipment.objects.filter(id__in=[i for i, _ in overdue]).update(next_step_due_at=now + grace)
        named = ", ".join(f"{i} ({status})" for i, status in overdue[:20])
        log.warning(
            "resuming %d shipment(s) whose next step is more than %ss overdue: %s%s",
            len(overdue),
            settings.DELIVERY_STALLED_AFTER_SECONDS,
            named,
            " ..." if len(overdue) > 20 else "",
        )
        for shipment_id, status in overdue:
            _schedule_step(shipment_id, status, countdown=0)
    return [shipment_id for shipment_id, _ in overdue]


def _due() -> datetime:
    return timezone.now() + timedelta(seconds=settings.DELIVERY_STEP_SECONDS)


def _schedule_step(shipment_id: int, expected_status: str, *, countdown: float | None = None) -> None:
    """Queue the automatic step out of `expected_status` once the current transaction commits,
    DELIVERY_STEP_SECONDS later (or after `countdown`). If queuing fails, the failure is logged
    and nothing is raised: the change is committed, and the due time it recorded is what the
    sweep resumes it by."""
    # Imported here: tasks.py calls into this module, and the task is only needed at commit time.
    from delivery.tasks import progress_shipment

    delay = settings.DELIVERY_STEP_SECONDS if countdown is None else countdown

    def enqueue() -> None:
        try:
            progress_shipment.apply_async(args=[shipment_id, str(expected_status)], countdown=delay)
        except Exception as exc:
            log.warning(
                "could not queue the step of shipment %s out of %s (%s); the sweep will resume it",
                shipment_id,
                expected_status,
                exc,
            )

    # Bound: the task carries this step's trace even when the commit happens after the span.
    transaction.on_commit(tracing.bind(enqueue), using=ALIAS)
