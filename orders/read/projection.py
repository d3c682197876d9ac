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
from functools import cache
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from events import Event, handles
from events.schemas import topic_for
from orders.read.apps import ALIAS
from orders.read.models import OrderSummary, OrderSummaryProduct, ProjectionState
from shop.event_types import (
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
from shop.statements import from_row, insert_many, insert_unless_exists, update

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
        if _add_to_summary(generation, order_id, event, fact) and fact == "placed":
            _index_products(generation, order_id, event)


def _add_to_summary(generation: int, order_id: int, event: Event, fact: str) -> bool:
    """Add the event to the order's summary in `generation`, creating the summary if it is the
    order's first event there; False if the summary had it already."""
    # order_placed is nearly always an order's first event: it goes straight to the INSERT,
    # one statement, where any other event first looks for (and locks) the summary it joins.
    if fact != "placed" and (summary := _locked_summary(generation, order_id)) is not None:
        return _add_to_existing(summary, event, fact)
    # The order's first event here: the summary is written whole, in one INSERT...
    summary = OrderSummary(generation=generation, order_id=order_id)
    _add(summary, event, fact)
    # One INSERT ... ON CONFLICT DO NOTHING: no savepoint, and no ORM compile per event.
    if insert_unless_exists(summary, unique=("generation", "order_id"), using=ALIAS):
        return True
    # ...unless it is there already (an order_placed that came after another event of its order,
    # or a rebuild, applying the same events to the generation it builds, inserted it meanwhile):
    # then this event goes into that row like any other.
    summary = _locked_summary(generation, order_id)
    return summary is not None and _add_to_existing(summary, event, fact)


@handles(*FACTS)
def project_order_summary(event: Event) -> None:
    """The live projection: applies each event to the serving generation and, while a rebuild
    runs, to the generation being built, so the rebuilt one misses nothing."""
    project(event, _count_applied(event))


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


def _count_applied(event: Event) -> list[int]:
    """Count `event` on the projection's state row and return the generations to apply it to
    (the serving one, and the one a rebuild is building), in one statement per event: the
    UPDATE's row lock orders it with a rebuild's swap of generations as the SELECT ... FOR
    UPDATE it replaces did."""
    connection = connections[ALIAS]
    fields = {f.name: f for f in ProjectionState._meta.concrete_fields}
    at = fields["last_event_time"].get_db_prep_save(_parse_time(event.time), connection)
    now = fields["last_applied_at"].get_db_prep_save(timezone.now(), connection)
    sql = (
        f"UPDATE {connection.ops.quote_name(ProjectionState._meta.db_table)}"
        " SET events_applied = events_applied + 1, last_applied_at = %s,"
        " last_event_time = CASE WHEN last_event_time IS NULL OR last_event_time < %s THEN %s"
        " ELSE last_event_time END"
        " WHERE name = %s RETURNING active_generation, building_generation"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, at, at, PROJECTION])
        row = cursor.fetchone()
        if row is None:  # the very first event: the state row is created, then counted
            projection_state()
            cursor.execute(sql, [now, at, at, PROJECTION])
            row = cursor.fetchone()
    active, building = row
    return [active, building] if building else [active]


def _locked_summary(generation: int, order_id: int) -> OrderSummary | None:
    """The summary, locked for update until the transaction ends; None if there is none."""
    # The SELECT composed once, its row made a model by from_row(): compiling a QuerySet for
    # every event was ~40% of applying it, and raw()'s per-call column mapping still ~20% (measured).
    connection = connections[ALIAS]
    sql, names = _locked_summary_select(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [generation, order_id])
        row = cursor.fetchone()
    return None if row is None else from_row(OrderSummary, names, row, using=ALIAS)


@cache
def _locked_summary_select(vendor: str) -> tuple[str, tuple[str, ...]]:
    """The SQL of the locked summary's SELECT and the fields it reads (every concrete one, in
    order): the SQL depends on the database's backend (`vendor`) alone."""
    # (generation, order_id) is unique: a plain LIMIT 1, without the ORDER BY that first() adds.
    summaries = OrderSummary.objects.using(ALIAS).select_for_update()
    sql, _ = summaries.filter(generation=0).filter(order_id=0)[:1].query.get_compiler(ALIAS).as_sql()
    return sql, tuple(f.attname for f in OrderSummary._meta.concrete_fields)


def _add_to_existing(summary: OrderSummary, event: Event, fact: str) -> bool:
    """Add the event to a stored summary and save what it changed; False if it was there."""
    if any(entry["event_id"] == event.id for entry in summary.timeline):
        return False
    # One UPDATE of the changed columns: save(update_fields=...) compiled one per event, ~1/6
    # of applying it (measured).
    update(summary, _add(summary, event, fact), using=ALIAS)
    return True


def _index_products(generation: int, order_id: int, event: Event) -> None:
    """Record the order's products in the "orders with product X" index (once each)."""
    placed_at, customer_id = _parse_time(event.time), event.data["customer_id"]
    products = [
        OrderSummaryProduct(
            generation=generation,
            order_id=order_id,
            product_id=line["product_id"],
            customer_id=customer_id,
            placed_at=placed_at,
        )
        for line in event.data["lines"]
    ]
    # One INSERT: bulk_create()'s ORM path was ~1/4 of applying an order_placed (measured).
    insert_many(products, unless_exists=("generation", "order_id", "product_id"), using=ALIAS)


def _add(summary: OrderSummary, event: Event, fact: str) -> list[str]:
    """Add the event's fact, timeline entry and fields to `summary` (in memory); the names of
    the fields that changed."""
    changed = _apply_fields(summary, event)
    summary.facts[fact] = min(summary.facts.get(fact, event.time), event.time)
    summary.timeline = sorted(
        [*summary.timeline, {"at": event.time, "fact": fact, "event_id": event.id, "detail": _detail(event)}],
        key=lambda entry: entry["at"],
    )
    summary.status = _first_fact(summary.facts, ORDER_STATUS)
    summary.shipment_status = _first_fact(summary.facts, SHIPMENT_STATUS)
    return [*changed, "facts", "timeline", "status", "shipment_status", "updated_at"]


def _apply_fields(summary: OrderSummary, event: Event) -> list[str]:
    """Set the fields the event carries; their names."""
    data: dict[str, Any] = event.data
    changed = []
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
        changed += ["customer_id", "currency", "total", "shipping_address", "placed_at", "lines"]
    elif event.type in (ORDER_REJECTED, ORDER_CANCELLED):
        summary.status_reason = data["reason"]
        changed.append("status_reason")
    if "shipment_id" in data:
        summary.shipment_id = data["shipment_id"]
        changed.append("shipment_id")
    if data.get("tracking_code"):
        summary.tracking_code = data["tracking_code"]
        changed.append("tracking_code")
    return changed


def _detail(event: Event) -> str:
    data = event.data
    return data.get("reason") or data.get("tracking_code") or ""


def _first_fact(facts: dict[str, str], ranking: list[tuple[str, str]]) -> str:
    return next((status for fact, status in ranking if fact in facts), "")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
