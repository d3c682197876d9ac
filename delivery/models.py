"""Shipments and their status history (database alias `delivery`).

A shipment moves only forward: CREATED -> PICKED_UP -> IN_TRANSIT -> DELIVERED, or
CREATED -> CANCELLED. Every status it reaches is recorded once in its history, creation included;
the services in services.py are the only writers of `status`.

While it moves by itself, `next_step_due_at` says when its next automatic step is due. The step is
queued in Celery for that moment, but a queued step lives in Redis and in a worker's memory, which
a crash can lose: the due time in the database is what the re-drive sweep (tasks.py) goes by.
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

TRACKING_PREFIX = "SHP-"


def new_tracking_code() -> str:
    """A fresh tracking code, e.g. "SHP-7K2QJ4XWZ3M5LDRA": 80 random bits in base32.

    Random rather than derived from the id so codes cannot be enumerated; the unique constraint is
    the guarantee, the 80 bits make a collision practically impossible.
    """
    return TRACKING_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode("ascii")


class ShipmentStatus(models.TextChoices):
    CREATED = "CREATED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class Shipment(models.Model):
    """The physical delivery of one confirmed order (one shipment per order, enforced)."""

    Status = ShipmentStatus

    # Ids of aggregates owned by other services: plain integers, never foreign keys.
    order_id = models.PositiveBigIntegerField(unique=True)
    customer_id = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=ShipmentStatus.choices, default=ShipmentStatus.CREATED)
    address = models.TextField()
    tracking_code = models.CharField(max_length=32, unique=True, default=new_tracking_code, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the next automatic step is due; NULL when none will come: delivered, cancelled, or
    # moved by staff (a manual step hands the shipment over to staff).
    next_step_due_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer_id"], name="shipment_customer"),
            # The sweep's query: the few shipments still moving, most overdue first.
            models.Index(
                fields=["next_step_due_at"],
                condition=Q(next_step_due_at__isnull=False),
                name="shipment_next_step_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ShipmentStatus.values), name="shipment_status_valid"
            ),
            models.CheckConstraint(condition=Q(order_id__gte=1), name="shipment_order_id_positive"),
            models.CheckConstraint(condition=Q(customer_id__gte=1), name="shipment_customer_id_positive"),
            models.CheckConstraint(condition=~Q(address=""), name="shipment_address_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_code} (order {self.order_id}, {self.status})"


class ShipmentStatusChange(models.Model):
    """One status a shipment reached, and when: its creation and every transition after it."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="history")
    status = models.CharField(max_length=16, choices=ShipmentStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            # Transitions only go forward, so a status is reached at most once per shipment; the
            # database refuses a duplicate step even if two writers raced past the service checks.
            models.UniqueConstraint(fields=["shipment", "status"], name="shipment_status_reached_once"),
            models.CheckConstraint(
                condition=Q(status__in=ShipmentStatus.values), name="shipment_change_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M:%S}"
