"""Reads of delivery for the API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from delivery.models import Shipment, ShipmentStatusChange


def list_shipments_for(*, customer_id: int | None, is_staff: bool) -> QuerySet[Shipment]:
    """Staff see every shipment; a customer only their own (anyone else's simply does not exist)."""
    shipments = Shipment.objects.all()
    if is_staff:
        return shipments
    if customer_id is None:
        return shipments.none()
    return shipments.filter(customer_id=customer_id)


def with_history(shipments: QuerySet[Shipment]) -> QuerySet[Shipment]:
    """The same shipments with their status history loaded in one extra query, oldest first."""
    return shipments.prefetch_related(
        Prefetch("history", queryset=ShipmentStatusChange.objects.order_by("at", "id"))
    )
