"""Celery tasks of delivery: the automatic progression of a shipment, one step per task.

The chain: create_shipment() schedules the step out of CREATED; each step, once committed,
schedules the next, DELIVERY_STEP_SECONDS later, until DELIVERED. Every task names the status it
expects to advance from, so a duplicate, a retry after a lost ack or a step overtaken by a
cancel or by staff does nothing.

A queued step can be lost (Redis or a worker killed, Redis down when it was to be queued, its
retries used up during a long database outage): beat runs `resume_stalled_shipments`, which
queues again every step the database says is overdue by DELIVERY_STALLED_AFTER_SECONDS.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from delivery import services

log = logging.getLogger(__name__)


@shared_task(
    name="delivery.tasks.progress_shipment",
    # A locked or briefly unreachable database: try again (after a longer outage, the sweep).
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=5,
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    acks_late=True,
)
def progress_shipment(shipment_id: int, expected_status: str) -> str | None:
    """Advance the shipment one step if it is still in `expected_status`; schedule the next.

    Idempotent: when the shipment has moved on (or is gone), nothing is written or published and
    nothing is scheduled. Returns the new status, or None when the task had nothing to do.
    """
    try:
        shipment = services.advance_shipment(
            shipment_id=shipment_id, expected_from=expected_status, schedule_next=True
        )
    except services.InvalidTransition as exc:
        log.info("progress of shipment %s from %s skipped: %s", shipment_id, expected_status, exc)
        return None
    except services.ShipmentNotFound:
        log.warning("progress of shipment %s skipped: it does not exist", shipment_id)
        return None
    return shipment.status


@shared_task(name="delivery.tasks.resume_stalled_shipments")
def resume_stalled_shipments() -> int:
    """Queue again every automatic step that is overdue (services.resume_stalled_shipments); run
    by beat (DELIVERY_STALLED_AFTER_SECONDS). Returns how many shipments it resumed."""
    return len(services.resume_stalled_shipments())
