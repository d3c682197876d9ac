"""Commands of orders: every one runs in one transaction on the orders database, and the events
it publishes commit (or roll back) with its change.

Status changes are conditional UPDATEs (`... WHERE status IN (allowed)`), so two commands racing
on one order (a cancel and a stock_reserved, two redeliveries) cannot both win: the loser sees
zero rows updated and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeGuard

from django.db import connections, transaction
from django.utils import timezone

from events import publish
from orders import metrics
from orders.apps import ALIAS
from orders.models import (
    MAX_ADDRESS_LENGTH,
    MAX_AMOUNT,
    MAX_LINES,
    MAX_QUANTITY,
    Order,
    OrderLine,
    ProductSnapshot,
)
from shop import event_types
from shop.statements import from_row, insert, insert_many, update

log = logging.getLogger(__name__)

Status = Order.Status
CANCELLABLE = (Status.PENDING, Status.CONFIRMED)
TIMED_OUT = "timed out"
# Where a problem of a whole collection (not of one item) is reported: DRF's key, so the API's
# errors have one shape whether the serializer or the service found the problem.
LIST_ERRORS = "non_field_errors"


# --- errors ---------------------------------------------------------------------------------------


class OrderError(Exception):
    """Base of the orders domain errors; the API maps each to a status code."""


class InvalidOrder(OrderError):
    """The order cannot be placed as asked. `errors` maps fields to messages, DRF-style:
    {"lines": {"2": {"product_id": ["Unknown product 99."]}}} for one line (by 0-based index),
    {"lines": {"non_field_errors": ["..."]}} for the lines as a whole, {"shipping_address": [...]}."""

    def __init__(self, errors: dict[str, Any]):
        self.errors = errors
        super().__init__(errors)


class OrderNotFound(OrderError):
    """No such order, or not one the caller may act on (the API answers 404 either way)."""

    def __init__(self, order_id: int):
        self.order_id = order_id
        super().__init__(f"order {order_id} not found")


class OrderNotCancellable(OrderError):
    """The order's status no longer allows cancelling; str() says why, for the customer."""

    def __init__(self, order: Order):
        self.order = order
        super().__init__(_why_not_cancellable(order))


class UnknownProduct(OrderError):
    """A product event refers to a product orders never heard of (its creation was missed)."""


def _why_not_cancellable(order: Order) -> str:
    reasons: dict[str, str] = {
        Status.SHIPPED: "has shipped; it can no longer be cancelled",
        Status.DELIVERED: "has been delivered; it can no longer be cancelled",
        Status.CANCELLED: "is already cancelled",
        Status.REJECTED: "was rejected; there is nothing to cancel",
    }
    return f"order {order.pk} {reasons.get(order.status, f'is {order.status}')}"


# --- placing --------------------------------------------------------------------------------------


def place_order(*, customer_id: int, lines: Sequence[Mapping[str, Any]], shipping_address: str) -> Order:
    """Place a PENDING order for `customer_id` and publish `order_placed`.

    `lines` are `{"product_id": int, "quantity": int}`; prices, names and the currency come from
    the product snapshot, never from the caller. Raises InvalidOrder (with field-level messages)
    and writes nothing if any line is invalid, a product is unknown or inactive, the products'
    currencies differ or the total does not fit. Order, lines and event commit together.

    The order comes back with what a caller answers with, without another query: its lines
    (`written_lines`) and `event_id`, the id of its order_placed event (what a read waits for
    to reflect this write).
    """
    address = shipping_address.strip() if isinstance(shipping_address, str) else ""
    errors: dict[str, Any] = {}
    if not address:
        errors["shipping_address"] = ["A shipping address is required."]
    elif len(address) > MAX_ADDRESS_LENGTH:
        errors["shipping_address"] = [f"At most {MAX_ADDRESS_LENGTH} characters."]
    line_errors = _check_line_shapes(lines)
    if line_errors:
        errors["lines"] = line_errors
    if errors:
        raise InvalidOrder(errors)

    with transaction.atomic(using=ALIAS):
        # Read the snapshot inside the transaction: the prices used are one consistent state.
        snapshots = _snapshots([line["product_id"] for line in lines])
        priced, currency, total = _price(lines, snapshots)
        order = Order(customer_id=customer_id, currency=currency, total=total, shipping_address=address)
        insert(order, using=ALIAS)
        order.written_lines = [OrderLine(order=order, **line) for line in priced]
        insert_many(order.written_lines, using=ALIAS)
        event = publish(
            event_types.ORDER_PLACED,
            key=order.pk,
            data={
                "order_id": order.pk,
                "customer_id": customer_id,
                "currency": currency,
                "total": _money(total),
                "shipping_address": address,
                "lines": [
                    {
                        "product_id": line["product_id"],
                        "sku": line["sku"],
                        "name": line["name"],
                        "unit_price": _money(line["unit_price"]),
                        "quantity": line["quantity"],
                    }
                    for line in priced
                ],
            },
            using=ALIAS,
        )
    order.event_id = event.id
    return order


def _snapshots(product_ids: list[int]) -> dict[int, ProductSnapshot]:
    """The snapshots of these products, by product id: in_bulk() without its query's compile, and
    the rows made models by from_row() (raw()'s per-call column mapping was ~6 % of a POST's CPU,
    in_bulk()'s compile more: measured with bench.order_post --py-spy)."""
    connection = connections[ALIAS]
    sql, names = _snapshots_select(connection.vendor, len(product_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, product_ids)
        rows = cursor.fetchall()
    snapshots = (from_row(ProductSnapshot, names, row, using=ALIAS) for row in rows)
    return {snapshot.pk: snapshot for snapshot in snapshots}


@cache
def _snapshots_select(vendor: str, count: int) -> tuple[str, tuple[str, ...]]:
    """The SQL of `count` snapshots' SELECT by product id, compiled by the ORM once, and the
    fields it reads (every concrete one, in order): the text depends on the backend (`vendor`)
    and the count alone, at most MAX_LINES of them. The ids it was compiled with (distinct, or
    the ORM would merge them) are placeholders: each call passes its own."""
    snapshots = ProductSnapshot.objects.using(ALIAS).filter(product_id__in=range(1, count + 1)).order_by()
    sql, _ = snapshots.query.get_compiler(ALIAS).as_sql()
    return sql, tuple(f.attname for f in ProductSnapshot._meta.concrete_fields)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_line_shapes(lines: Any) -> dict[str, Any]:
    """What is wrong with the lines before looking anything up (empty = nothing)."""
    if not isinstance(lines, Sequence) or isinstance(lines, str) or not lines:
        return {LIST_ERRORS: ["An order needs at least one line."]}
    if len(lines) > MAX_LINES:
        return {LIST_ERRORS: [f"At most {MAX_LINES} lines per order."]}
    problems: dict[str, dict[str, list[str]]] = {}
    seen: set[int] = set()
    for index, line in enumerate(lines):
        here: dict[str, list[str]] = {}
        if not isinstance(line, Mapping):
            problems[str(index)] = {LIST_ERRORS: ["A line must be an object."]}
            continue
        product_id, quantity = line.get("product_id"), line.get("quantity")
        if not _is_int(product_id) or product_id < 1:
            here["product_id"] = ["A product id must be a whole number of at least 1."]
        elif product_id in seen:
            here["product_id"] = [f"Product {product_id} is on more than one line; combine them."]
        else:
            seen.add(product_id)
        if not _is_int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
            here["quantity"] = [f"The quantity must be a whole number from 1 to {MAX_QUANTITY}."]
        if here:
            problems[str(index)] = here
    return problems


def _price(
    lines: Sequence[Mapping[str, Any]], snapshots: Mapping[int, ProductSnapshot]
) -> tuple[list[dict[str, Any]], str, Decimal]:
    """Price each line from the snapshot; raise InvalidOrder naming every unpriceable line."""
    problems: dict[str, dict[str, list[str]]] = {}
    for index, line in enumerate(lines):
        product = snapshots.get(line["product_id"])
        if product is None:
            problems[str(index)] = {"product_id": [f"Unknown product {line['product_id']}."]}
        elif not product.active:
            problems[str(index)] = {"product_id": [f"Product {product.pk} is not available."]}
    if problems:
        raise InvalidOrder({"lines": problems})
    products = [snapshots[line["product_id"]] for line in lines]
    currencies = sorted({product.currency for product in products})
    if len(currencies) > 1:
        raise InvalidOrder(
            {
                "lines": {
                    LIST_ERRORS: [
                        f"All products of an order must share one currency; found {', '.join(currencies)}."
                    ]
                }
            }
        )
    priced = [
        {
            "product_id": product.pk,
            "sku": product.sku,
            "name": product.name,
            "unit_price": product.price,
            "quantity": line["quantity"],
        }
        for product, line in zip(products, lines, strict=True)
    ]
    total = order_total(priced)
    if total > MAX_AMOUNT:
        raise InvalidOrder({"lines": {LIST_ERRORS: [f"The order total may not exceed {MAX_AMOUNT}."]}})
    return priced, currencies[0], total


def order_total(lines: Iterable[Mapping[str, Any]]) -> Decimal:
    """Sum of unit_price x quantity, exact (Decimal, never float)."""
    return sum((Decimal(line["unit_price"]) * line["quantity"] for line in lines), Decimal("0.00"))


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


# --- status changes -------------------------------------------------------------------------------


def _command() -> transaction.Atomic:
    """The transaction of a command the saga's events drive: its own, or the caller's when there
    is one (a consumer runs each handler inside its inbox transaction). No savepoint in the
    caller's: it cost two statements per event, and an error rolls the caller's whole
    transaction back anyway, so the event is applied again or parked, whole."""
    return transaction.atomic(using=ALIAS, savepoint=False)


def _transition(
    order_id: int, *, allowed: Iterable[str], to: str, returning: Sequence[str] = (), **fields: Any
) -> dict[str, Any] | None:
    """Move the order to `to` if its status is one of `allowed`: a conditional UPDATE, so a
    concurrent transition is never overwritten. Returns None if it did not move, else the
    values of the `returning` fields as the move left them (a dict, empty if none asked).
    Raises OrderNotFound if there is no such order. Call inside a transaction on ALIAS."""
    return _update_order(order_id, allowed=allowed, changes={"status": to, **fields}, returning=returning)


def _update_order(
    order_id: int,
    *,
    allowed: Iterable[str],
    changes: Mapping[str, Any],
    unset: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> dict[str, Any] | None:
    """Set `changes` (and updated_at) on the order if its status is one of `allowed` and its
    `unset` fields are NULL; None if it did not match, else the `returning` fields' values
    after the change. Raises OrderNotFound if there is no such order."""
    order = Order(pk=order_id, **changes)  # the fields it sets; the others are neither sent nor read
    where = {"status__in": allowed, **{f"{name}__isnull": True for name in unset}}
    # One UPDATE ... RETURNING written out: QuerySet.update() compiled a query per event and could
    # not return the row, so a SELECT followed; the two were ~60% of confirming an order (measured).
    if not update(order, [*changes, "updated_at"], where=where, returning=returning, using=ALIAS):
        # Whether the order exists is asked only when nothing changed: not on every event.
        if not Order.objects.filter(pk=order_id).exists():
            raise OrderNotFound(order_id)
        return None
    return {name: getattr(order, name) for name in returning}


def _transition_announced(
    order_id: int, *, allowed: Iterable[str], to: str, event: tuple[str, dict[str, Any]], **fields: Any
) -> bool:
    """_transition(), and if the order moved, publish `event` (type, data) in the same
    transaction. Call inside a transaction on ALIAS."""
    if _transition(order_id, allowed=allowed, to=to, **fields) is None:
        return False
    event_type, data = event
    publish(event_type, key=order_id, data=data, using=ALIAS)
    return True


def cancel_order(*, order_id: int, reason: str, by_customer_id: int | None = None) -> Order:
    """Cancel a PENDING or CONFIRMED order and publish `order_cancelled` (catalog releases the
    stock, delivery cancels the shipment).

    `by_customer_id` set: only that customer's order (anyone else's is OrderNotFound); None:
    staff or the system. Raises OrderNotCancellable, saying why, in any other status. The order
    comes back with `event_id`, the id of its order_cancelled event.
    """
    reason = reason.strip() or "cancelled"
    with transaction.atomic(using=ALIAS):
        owner = Order.objects.filter(pk=order_id).values_list("customer_id", flat=True).first()
        if owner is None or (by_customer_id is not None and owner != by_customer_id):
            raise OrderNotFound(order_id)
        if _transition(order_id, allowed=CANCELLABLE, to=Status.CANCELLED, status_reason=reason) is None:
            raise OrderNotCancellable(Order.objects.get(pk=order_id))
        event = publish(
            event_types.ORDER_CANCELLED,
            key=order_id,
            data={"order_id": order_id, "reason": reason},
            using=ALIAS,
        )
    order = Order.objects.get(pk=order_id)
    order.event_id = event.id
    return order


def expire_pending_orders(*, older_than: datetime) -> int:
    """Cancel every order still PENDING that was placed before `older_than` (reason "timed out"),
    each in its own transaction with its `order_cancelled`. An order confirmed meanwhile is left
    alone. Returns how many were cancelled."""
    stale = Order.objects.filter(status=Status.PENDING, created_at__lt=older_than)
    expired = 0
    for order_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic(using=ALIAS):
            expired += _transition_announced(
                order_id,
                allowed=[Status.PENDING],
                to=Status.CANCELLED,
                status_reason=TIMED_OUT,
                event=(event_types.ORDER_CANCELLED, {"order_id": order_id, "reason": TIMED_OUT}),
            )
    if expired:
        log.info("cancelled %d pending order(s) placed before %s", expired, older_than.isoformat())
    return expired


def confirm_order(*, order_id: int) -> bool:
    """Stock was reserved: PENDING -> CONFIRMED and publish `order_confirmed`.

    Idempotent: an order no longer PENDING (already confirmed, or cancelled meanwhile, whose
    stock catalog releases on `order_cancelled`) is left alone. Returns whether it changed.
    """
    with _command():
        order = _transition(
            order_id,
            allowed=[Status.PENDING],
            to=Status.CONFIRMED,
            returning=["customer_id", "shipping_address", "created_at"],
        )
        if order is None:
            return False
        metrics.observe_on_commit(order_id, Status.CONFIRMED, order["created_at"], using=ALIAS)
        publish(
            event_types.ORDER_CONFIRMED,
            key=order_id,
            data={
                "order_id": order_id,
                "customer_id": order["customer_id"],
                "shipping_address": order["shipping_address"],
            },
            using=ALIAS,
        )
    return True


def reject_order(*, order_id: int, reason: str) -> bool:
    """Stock could not be reserved: PENDING -> REJECTED with `reason`, and publish `order_rejected`.
    Idempotent, only from PENDING. Returns whether it changed."""
    reason = reason.strip() or "stock could not be reserved"
    with _command():
        return _transition_announced(
            order_id,
            allowed=[Status.PENDING],
            to=Status.REJECTED,
            status_reason=reason,
            event=(event_types.ORDER_REJECTED, {"order_id": order_id, "reason": reason}),
        )


def record_shipment(*, order_id: int, shipment_id: int, tracking_code: str) -> bool:
    """Remember the shipment delivery created for the order (status unchanged). Only the first
    shipment counts; cancelled or rejected orders are left alone. Returns whether it changed."""
    with _command():
        recorded = _update_order(
            order_id,
            allowed=[Status.CONFIRMED, Status.SHIPPED, Status.DELIVERED],
            changes={"shipment_id": shipment_id, "tracking_code": tracking_code},
            unset=["shipment_id"],
        )
    return recorded is not None


def mark_shipped(*, order_id: int, shipment_id: int, tracking_code: str) -> bool:
    """The carrier picked the shipment up: CONFIRMED -> SHIPPED and publish `order_shipped`.

    Forward only: an order already SHIPPED or DELIVERED, or CANCELLED (a pickup racing the
    cancel), is left alone. Returns whether it changed.
    """
    shipped = {"order_id": order_id, "shipment_id": shipment_id, "tracking_code": tracking_code}
    with _command():
        return _transition_announced(
            order_id,
            allowed=[Status.CONFIRMED],
            to=Status.SHIPPED,
            shipment_id=shipment_id,
            tracking_code=tracking_code,
            event=(event_types.ORDER_SHIPPED, shipped),
        )


def mark_delivered(*, order_id: int, shipment_id: int) -> bool:
    """The shipment was delivered: SHIPPED (or CONFIRMED, if the pickup event was lost) ->
    DELIVERED and publish `order_delivered`. Forward only; cancelled orders are left alone.
    Returns whether it changed."""
    with _command():
        order = _transition(
            order_id,
            allowed=[Status.CONFIRMED, Status.SHIPPED],
            to=Status.DELIVERED,
            shipment_id=shipment_id,
            returning=["created_at"],
        )
        if order is None:
            return False
        metrics.observe_on_commit(order_id, Status.DELIVERED, order["created_at"], using=ALIAS)
        publish(
            event_types.ORDER_DELIVERED,
            key=order_id,
            data={"order_id": order_id, "shipment_id": shipment_id},
            using=ALIAS,
        )
    return True


# --- product snapshot -----------------------------------------------------------------------------


def upsert_product_snapshot(
    *, product_id: int, sku: str, name: str, price: Decimal, currency: str, active: bool
) -> ProductSnapshot:
    """Make the snapshot of `product_id` equal to the given full state (create it if new).
    Idempotent. Events of one product arrive in order, so the latest applied is the newest."""
    with _command():
        snapshot, _ = ProductSnapshot.objects.update_or_create(
            product_id=product_id,
            defaults={"sku": sku, "name": name, "price": price, "currency": currency, "active": active},
        )
    return snapshot


def change_product_price(*, product_id: int, price: Decimal, currency: str) -> None:
    """Reprice the snapshot: new orders use the new price; placed orders keep theirs.

    Raises UnknownProduct if orders has no snapshot of it (its product_created was missed): the
    event is then parked as a dead letter, visibly, instead of being guessed at.
    """
    with _command():
        updated = ProductSnapshot.objects.filter(product_id=product_id).update(
            price=price, currency=currency, updated_at=timezone.now()
        )
        if not updated:
            raise UnknownProduct(f"price change for product {product_id}, which orders has no snapshot of")
