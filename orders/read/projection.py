"""Projection of events onto the read side (orders_read): OrderSummary.

Consumes events from orders, catalog and delivery. Correct under redelivery (the inbox, plus a
per-summary record of applied event ids, since a rebuild may meet an event the live consumer
also applies) and under out-of-order arrival across topics: each event adds a fact, and the
statuses are derived from the set of facts, never from which event came last.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from events import Event, handles
from events.schemas import topic_for
from orders.event_types import (
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_DELIVERED,
    ORDER_PLACED,
    ORDER_REJECTED,
    ORDER_SHIPPED,
    SHIPMENT_CANCELLED,
    SHIPMENT_CREATED,
    SHIPMENT_DELIVERED,
    SHIPMENT_IN_TRANSIT,
    SHIPMENT_PICKED_UP,
    STOCK_REJECTED,
    STOCK_RELEASED,
    STOCK_RESERVED,
)
from orders.read.apps import ALIAS
from orders.read.models import OrderSummary, OrderSummaryProduct, ProjectionState

PROJECTION = "order_summary"

# event type -> fact it records about the order
FACTS = {
    ORDER_PLACED: "placed",
    ORDER_CONFIRMED: "confirmed",
    ORDER_REJECTED: "rejected",
    ORDER_CANCELLED: "cancelled",
    ORDER_SHIPPED: "shipped",
    ORDER_DELIVERED: "delivered",
    STOCK_RESERVED: "stock_reserved",
    STOCK_REJECTED: "stock_rejected",
    STOCK_RELEASED: "stock_released",
    SHIPMENT_CREATED: "shipment_created",
    SHIPMENT_PICKED_UP: "shipment_picked_up",
    SHIPMENT_IN_TRANSIT: "shipment_in_transit",
    SHIPMENT_DELIVERED: "shipment_delivered",
    SHIPMENT_CANCELLED: "shipment_cancelled",
}
TOPICS = sorted({topic_for(event_type) for event_type in FACTS})

# The first fact present (in this order) decides the status. Terminal facts come first, so a
# late or out-of-order event can never move a summary backwards.
ORDER_STATUS = [
    ("cancelled", "CANCELLED"),
    ("rejected", "REJECTED"),
    ("delivered", "DELIVERED"),
    ("shipped", "SHIPPED"),
    ("confirmed", "CONFIRMED"),
    ("placed", "PENDING"),
]
SHIPMENT_STATUS = [
    ("shipment_cancelled", "CANCELLED"),
    ("shipment_delivered", "DELIVERED"),
    ("shipment_in_transit", "IN_TRANSIT"),
    ("shipment_picked_up", "PICKED_UP"),
    ("shipment_created", "CREATED"),
]


def project(event: Event, generations: Iterable[int]) -> None:
    """Apply one event to the order's summary in each given generation. Idempotent: an event
    already in a summary's timeline changes nothing."""
    fact = FACTS[event.type]
    order_id = int(event.data["order_id"])
    for generation in generations:
        summary = _summary_for_update(generation, order_id)
        if any(entry["event_id"] == event.id for entry in summary.timeline):
            continue
        _apply_fields(summary, event)
        summary.facts[fact] = min(summary.facts.get(fact, event.time), event.time)
        summary.timeline = sorted(
            [
                *summary.timeline,
                {"at": event.time, "fact": fact, "event_id": event.id, "detail": _detail(event)},
            ],
            key=lambda entry: entry["at"],
        )
        summary.status = _first_fact(summary.facts, ORDER_STATUS)
        summary.shipment_status = _first_fact(summary.facts, SHIPMENT_STATUS)
        summary.save(using=ALIAS)
        if fact == "placed":
            OrderSummaryProduct.objects.using(ALIAS).bulk_create(
                [
                    OrderSummaryProduct(
                        generation=generation,
                        order_id=order_id,
                        product_id=line["product_id"],
                        customer_id=event.data["customer_id"],
                        placed_at=_parse_time(event.time),
                    )
                    for line in event.data["lines"]
                ],
                ignore_conflicts=True,
            )


@handles(*FACTS)
def project_order_summary(event: Event) -> None:
    """The live projection: applies each event to the serving generation and, while a rebuild
    runs, to the generation being built, so the rebuilt one misses nothing."""
    state = projection_state(for_update=True)
    generations = [state.active_generation]
    if state.building_generation:
        generations.append(state.building_generation)
    project(event, generations)
    state.events_applied = F("events_applied") + 1
    state.last_event_time = max(filter(None, [state.last_event_time, _parse_time(event.time)]))
    state.last_applied_at = timezone.now()
    state.save(using=ALIAS, update_fields=["events_applied", "last_event_time", "last_applied_at"])


def projection_state(*, for_update: bool = False) -> ProjectionState:
    states = ProjectionState.objects.using(ALIAS)
    if for_update:
        states = states.select_for_update()
    state = states.filter(name=PROJECTION).first()
    if state is None:
        try:
            with transaction.atomic(using=ALIAS):
                ProjectionState.objects.using(ALIAS).create(name=PROJECTION)
        except IntegrityError:
            pass  # created concurrently
        state = states.get(name=PROJECTION)
    return state


def _summary_for_update(generation: int, order_id: int) -> OrderSummary:
    summaries = OrderSummary.objects.using(ALIAS).select_for_update()
    summary = summaries.filter(generation=generation, order_id=order_id).first()
    if summary is None:
        summary, _ = summaries.get_or_create(generation=generation, order_id=order_id)
    return summary


def _apply_fields(summary: OrderSummary, event: Event) -> None:
    data: dict[str, Any] = event.data
    if event.type == ORDER_PLACED:
        summary.customer_id = data["customer_id"]
        summary.currency = data["currency"]
        summary.total = Decimal(data["total"])
        summary.shipping_address = data["shipping_address"]
        summary.placed_at = _parse_time(event.time)
        summary.lines = [
            {**line, "line_total": f"{Decimal(line['unit_price']) * line['quantity']:.2f}"}
            for line in data["lines"]
        ]
    elif event.type in (ORDER_REJECTED, ORDER_CANCELLED):
        summary.status_reason = data["reason"]
    if "shipment_id" in data:
        summary.shipment_id = data["shipment_id"]
    if data.get("tracking_code"):
        summary.tracking_code = data["tracking_code"]


def _detail(event: Event) -> str:
    data = event.data
    return data.get("reason") or data.get("tracking_code") or ""


def _first_fact(facts: dict[str, str], ranking: list[tuple[str, str]]) -> str:
    return next((status for fact, status in ranking if fact in facts), "")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
