"""Catalog commands: products and the stock reserved for orders.

Every command runs in one transaction on the catalog database and publishes its events inside
it, so a change and its event commit (or roll back) together. Commands take keyword-only
arguments and raise a CatalogError subclass when they cannot be carried out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from catalog.apps import ALIAS
from catalog.models import DEFAULT_CURRENCY, Product, ReservationLine, StockReservation
from events import publish
from shop.event_types import (
    PRICE_CHANGED,
    PRODUCT_CREATED,
    PRODUCT_UPDATED,
    STOCK_REJECTED,
    STOCK_RELEASED,
    STOCK_RESERVED,
)
from shop.statements import insert_many, insert_unless_exists

CENT = Decimal("0.01")
# The event schemas cap one line's quantity at this; a problem report stays within it.
MAX_LINE_QUANTITY = 1000


# --- errors -----------------------------------------------------------------------------------


class CatalogError(Exception):
    """A catalog command could not be carried out; nothing was written."""


class ProductNotFound(CatalogError):
    def __init__(self, product_id: int):
        super().__init__(f"no product with id {product_id}")
        self.product_id = product_id


class InvalidProduct(CatalogError):
    """Product fields that break a catalog rule; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


class DuplicateSku(InvalidProduct):
    def __init__(self, sku: str):
        super().__init__({"sku": f"A product with SKU {sku!r} already exists."})
        self.sku = sku


class InvalidReservation(CatalogError):
    """A reservation request that no stock level could satisfy (no lines, bad quantities)."""


# --- products ---------------------------------------------------------------------------------


def create_product(
    *,
    sku: str,
    name: str,
    price: Decimal | str | int,
    currency: str = DEFAULT_CURRENCY,
    stock: int = 0,
    description: str = "",
    active: bool = True,
) -> Product:
    """Add a product and publish `product_created`.

    Raises InvalidProduct (DuplicateSku for a taken SKU) and then writes nothing.
    """
    product = Product(
        **_normalized(
            {
                "sku": sku,
                "name": name,
                "price": price,
                "currency": currency,
                "stock": stock,
                "description": description,
                "active": active,
            }
        )
    )
    with transaction.atomic(using=ALIAS):
        _validate(product)
        _save(product)
        publish(PRODUCT_CREATED, key=product.pk, data=product_state(product), using=ALIAS)
    return product


def update_product(
    *,
    product_id: int,
    sku: str | None = None,
    name: str | None = None,
    description: str | None = None,
    price: Decimal | str | int | None = None,
    currency: str | None = None,
    stock: int | None = None,
    active: bool | None = None,
) -> Product:
    """Change the given fields (None = leave as is) of a product.

    Publishes `product_updated` with the product's whole state if anything changed, and also
    `price_changed` if its price (amount or currency) changed. Changing nothing publishes
    nothing. Raises ProductNotFound or InvalidProduct, and then writes nothing.
    """
    given = {
        "sku": sku,
        "name": name,
        "description": description,
        "price": price,
        "currency": currency,
        "stock": stock,
        "active": active,
    }
    fields = _normalized({k: v for k, v in given.items() if v is not None})
    with transaction.atomic(using=ALIAS):
        product = _locked_product(product_id)
        changed = {k: v for k, v in fields.items() if getattr(product, k) != v}
        if not changed:
            return product
        old_price, old_currency = product.price, product.currency
        for name_, value in changed.items():
            setattr(product, name_, value)
        _validate(product)
        _save(product, update_fields=[*changed, "updated_at"])
        publish(PRODUCT_UPDATED, key=product.pk, data=product_state(product), using=ALIAS)
        if product.price != old_price or product.currency != old_currency:
            publish(
                PRICE_CHANGED,
                key=product.pk,
                data={
                    "product_id": product.pk,
                    "old_price": _money(old_price),
                    "new_price": _money(product.price),
                    "currency": product.currency,
                },
                using=ALIAS,
            )
    return product


def deactivate_product(*, product_id: int) -> Product:
    """Take a product off sale (it is kept: past reservations refer to it).

    Publishes `product_updated` with `active: false`; deactivating an inactive product changes
    and publishes nothing. Raises ProductNotFound.
    """
    return update_product(product_id=product_id, active=False)


def product_state(product: Product) -> dict[str, Any]:
    """The product as the product_created / product_updated events carry it."""
    return {
        "product_id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "price": _money(product.price),
        "currency": product.currency,
        "active": product.active,
    }


# --- stock ------------------------------------------------------------------------------------


class StockLine(NamedTuple):
    product_id: int
    quantity: int


@dataclass(frozen=True)
class StockProblem:
    """Why one product of an order could not be reserved."""

    product_id: int
    problem: str  # unknown_product | inactive | insufficient_stock (the event schema's enum)
    requested: int
    sku: str | None = None
    available: int | None = None

    def describe(self) -> str:
        if self.problem == "unknown_product":
            return f"unknown product {self.product_id}"
        if self.problem == "inactive":
            return f"{self.sku} is no longer for sale"
        return f"insufficient stock for {self.sku} (requested {self.requested}, available {self.available})"

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"product_id": self.product_id, "problem": self.problem}
        # Several lines of one product add up and may exceed the schema's per-line maximum;
        # the reason text still carries the real number.
        if self.requested <= MAX_LINE_QUANTITY:
            data["requested"] = self.requested
        if self.available is not None:
            data["available"] = self.available
        return data


@dataclass(frozen=True)
class ReservationResult:
    """What reserve_stock() decided for an order."""

    reserved: bool  # the order holds (or, if repeated and since released, held) a reservation
    reservation: StockReservation | None = None
    problems: tuple[StockProblem, ...] = ()
    repeated: bool = False  # the order already had a reservation: nothing was done

    @property
    def reason(self) -> str:
        return "; ".join(p.describe() for p in self.problems)


class _Shortage(Exception):
    """The decrement found less stock than the check did (possible only without row locks)."""


def reserve_stock(*, order_id: int, lines: Iterable[tuple[int, int]]) -> ReservationResult:
    """Reserve every line of an order, or none of them.

    Publishes `stock_reserved` (and records a StockReservation) or `stock_rejected` with the
    reason and one problem per product that could not be reserved; a rejection changes no stock
    and records nothing. Never oversells, whatever runs concurrently: the decrement is a
    conditional `UPDATE ... SET stock = stock - qty WHERE stock >= qty AND active`, undone if it
    falls short on any product, and rows are locked in product_id order so two orders sharing
    products queue rather than deadlock. Idempotent per order: if the order already has a
    reservation (reserved or released) nothing changes and nothing is published.
    Raises InvalidReservation for no lines or non-positive quantities.
    """
    stock_lines = [StockLine(int(product_id), int(quantity)) for product_id, quantity in lines]
    if not stock_lines:
        raise InvalidReservation(f"order {order_id}: a reservation needs at least one line")
    if any(line.quantity < 1 or line.product_id < 1 for line in stock_lines):
        raise InvalidReservation(f"order {order_id}: product ids and quantities must be positive")
    wanted = _per_product(stock_lines)
    # No savepoint: what fails in here fails the caller's transaction too (a handler's, whose
    # event is then retried whole), and a savepoint was two more round trips per order.
    with transaction.atomic(using=ALIAS, savepoint=False):
        # Claiming the order is the idempotency check: its order_id is unique, so a repeat (even
        # a concurrent one, which waits for the first to commit) inserts nothing.
        reservation = StockReservation(order_id=order_id)
        if not insert_unless_exists(reservation, unique=("order_id",), using=ALIAS):
            existing = StockReservation.objects.get(order_id=order_id)
            return ReservationResult(reserved=True, reservation=existing, repeated=True)
        # Row locks (where the database has them) in product_id order: a consistent view for the
        # problem report, and no lock-order deadlock between two orders.
        products = _products_locked(wanted)
        problems = _problems(wanted, products)
        if not problems:
            try:
                _take(wanted)
            except _Shortage as shortage:
                # Only reachable without row locks (the stock moved after we looked): report what
                # is there now, and at least the product that ran short.
                products = _products_locked(wanted)
                problems = _problems(wanted, products) or _shortage_problem(shortage, wanted, products)
        if problems:
            reservation.delete()  # only reservations that took stock are recorded
            result = ReservationResult(reserved=False, problems=tuple(problems))
            publish(
                STOCK_REJECTED,
                key=order_id,
                data={
                    "order_id": order_id,
                    "reason": result.reason,
                    "problems": [p.as_data() for p in problems],
                },
                using=ALIAS,
            )
            return result
        insert_many(
            [
                ReservationLine(reservation=reservation, product_id=line.product_id, quantity=line.quantity)
                for line in stock_lines
            ],
            using=ALIAS,
        )
        publish(
            STOCK_RESERVED,
            key=order_id,
            data={"order_id": order_id, "lines": _lines_data(stock_lines)},
            using=ALIAS,
        )
        return ReservationResult(reserved=True, reservation=reservation)


def release_stock(*, order_id: int) -> StockReservation | None:
    """Give back the stock reserved for an order and publish `stock_released`.

    Exactly once: only a RESERVED reservation is released, and the status change is itself a
    conditional UPDATE, so a repeated or concurrent release finds nothing to do. An order
    without a reservation (rejected, or never seen) is a no-op. Returns the released
    reservation, or None if nothing was released.
    """
    with transaction.atomic(using=ALIAS):
        released = StockReservation.objects.filter(
            order_id=order_id, status=StockReservation.Status.RESERVED
        ).update(status=StockReservation.Status.RELEASED, released_at=timezone.now())
        if not released:
            return None
        reservation = StockReservation.objects.get(order_id=order_id)
        lines = [StockLine(line.product_id, line.quantity) for line in reservation.lines.order_by("id")]
        returned = _per_product(lines)
        # Locked first, in product_id order: one UPDATE of several rows locks them in whatever
        # order its plan visits them, and two such orders could deadlock.
        _products_locked(returned)
        _add_stock(returned)
        publish(
            STOCK_RELEASED,
            key=order_id,
            data={"order_id": order_id, "lines": _lines_data(lines)},
            using=ALIAS,
        )
    return reservation


# --- internals --------------------------------------------------------------------------------


def _take(wanted: dict[int, int]) -> None:
    """Take `wanted` (product_id -> quantity) from the stock: all of it, or none and _Shortage."""
    taken = _add_stock({product_id: -quantity for product_id, quantity in wanted.items()})
    if len(taken) < len(wanted):
        # The rows were not locked (SQLite): give back what this statement took.
        _add_stock({product_id: wanted[product_id] for product_id in taken})
        raise _Shortage(min(set(wanted) - set(taken)))


def _add_stock(deltas: dict[int, int]) -> list[int]:
    """Add each delta to its product's stock, by one statement for all of them (one ORM
    update() per product cost a round trip and a compile each). A negative delta applies only
    to an active product with that much stock. Returns the ids of the products changed."""
    connection = connections[ALIAS]
    table, id_, active, stock = map(
        connection.ops.quote_name, (Product._meta.db_table, "id", "active", "stock")
    )
    # (product_id, delta) rows; VALUES names them column1, column2 on Postgres and SQLite alike.
    sql = (
        f"UPDATE {table} SET {stock} = {table}.{stock} + delta.column2"
        f" FROM (VALUES {', '.join(['(%s, %s)'] * len(deltas))}) AS delta"
        f" WHERE {table}.{id_} = delta.column1"
        f" AND (delta.column2 >= 0 OR ({table}.{active} AND {table}.{stock} >= -delta.column2))"
        f" RETURNING {table}.{id_}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for item in deltas.items() for value in item])
        return [product_id for (product_id,) in cursor.fetchall()]


def _per_product(lines: Iterable[StockLine]) -> dict[int, int]:
    """Quantities summed per product, in product_id order (the order rows are locked in)."""
    totals: dict[int, int] = {}
    for line in lines:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return dict(sorted(totals.items()))


class _Stock(NamedTuple):
    """What the reservation checks of a product."""

    sku: str
    active: bool
    stock: int


def _products_locked(wanted: dict[int, int]) -> dict[int, _Stock]:
    """The products of `wanted` by id, their rows locked (where the database has row locks) in
    product_id order. A plain statement: building it with the ORM's select_for_update() cost
    ~0.45 ms of CPU per order more (measured through apply_batch on Postgres)."""
    connection = connections[ALIAS]
    table, id_, sku, active, stock = map(
        connection.ops.quote_name, (Product._meta.db_table, "id", "sku", "active", "stock")
    )
    sql = (
        f"SELECT {id_}, {sku}, {active}, {stock} FROM {table}"
        f" WHERE {id_} IN ({', '.join(['%s'] * len(wanted))}) ORDER BY {id_}"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, list(wanted))
        return {row[0]: _Stock(row[1], bool(row[2]), row[3]) for row in cursor.fetchall()}


def _problems(wanted: dict[int, int], products: dict[int, _Stock]) -> list[StockProblem]:
    problems = []
    for product_id, quantity in wanted.items():
        product = products.get(product_id)
        if product is None:
            problems.append(StockProblem(product_id, "unknown_product", quantity))
        elif not product.active:
            problems.append(StockProblem(product_id, "inactive", quantity, sku=product.sku))
        elif product.stock < quantity:
            problems.append(
                StockProblem(
                    product_id, "insufficient_stock", quantity, sku=product.sku, available=product.stock
                )
            )
    return problems


def _shortage_problem(
    shortage: _Shortage, wanted: dict[int, int], products: dict[int, _Stock]
) -> list[StockProblem]:
    (product_id,) = shortage.args
    product = products.get(product_id)
    if product is None:
        return [StockProblem(product_id, "unknown_product", wanted[product_id])]
    return [
        StockProblem(
            product_id, "insufficient_stock", wanted[product_id], sku=product.sku, available=product.stock
        )
    ]


def _lines_data(lines: list[StockLine]) -> list[dict[str, int]]:
    return [{"product_id": line.product_id, "quantity": line.quantity} for line in lines]


def _locked_product(product_id: int) -> Product:
    try:
        return Product.objects.select_for_update().get(pk=product_id)
    except (Product.DoesNotExist, ValueError, TypeError):
        raise ProductNotFound(product_id) from None


def _save(product: Product, update_fields: list[str] | None = None) -> None:
    # A savepoint, so a SKU taken by a concurrent transaction surfaces as DuplicateSku.
    try:
        with transaction.atomic(using=ALIAS):
            product.save(update_fields=update_fields)
    except IntegrityError:
        if Product.objects.filter(sku=product.sku).exclude(pk=product.pk).exists():
            raise DuplicateSku(product.sku) from None
        raise


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _normalized(fields: dict[str, Any]) -> dict[str, Any]:
    """The values a caller passed, as the model takes them: names stripped, a price that is a
    whole number of cents as an exact two-place Decimal. What the model would silently coerce (a
    float price, a true/false stock) is refused here. The field rules themselves are the model's
    (catalog/models.py), applied by _validate()."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("sku", "name", "description") and isinstance(value, str):
            value = value.strip()  # the currency is not: "EUR\n" is not a currency
        elif name == "price":
            if isinstance(value, float | bool):
                # Floats cannot hold cents exactly; money arrives as Decimal or a string.
                errors[name] = "Price must be a decimal amount, not a float."
                continue
            value = _exact_cents(value)
        elif name == "stock" and (isinstance(value, bool) or not isinstance(value, int)):
            errors[name] = "Stock must be a whole number."
            continue
        elif name == "active" and not isinstance(value, bool):
            errors[name] = "Active must be true or false."
            continue
        clean[name] = value
    if errors:
        raise InvalidProduct(errors)
    return clean


def _exact_cents(value: Any) -> Any:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return value  # the model's rule says what is wrong with it
    if amount.is_finite() and amount == amount.quantize(CENT):
        # A zero is the price zero: Decimal keeps the sign of "-0.00", which passes the model's
        # "at least 0" but is no amount the events (or anyone reading them) take.
        return amount.quantize(CENT).copy_abs() if amount.is_zero() else amount.quantize(CENT)
    return amount


def _validate(product: Product) -> None:
    """full_clean() with the model's rules; raises InvalidProduct (DuplicateSku for a taken SKU)
    with the first message of each field that breaks one."""
    try:
        product.full_clean()
    except ValidationError as exc:
        if any(error.code == "unique" for error in exc.error_dict.get("sku", [])):
            raise DuplicateSku(product.sku) from None
        raise InvalidProduct({name: messages[0] for name, messages in exc.message_dict.items()}) from None
