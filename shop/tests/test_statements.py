"""shop.statements' UPDATE and row reading, which the hot paths use instead of the ORM's: what they
write and read must be what the ORM writes and reads, values that need converting on the way in
and out included (Decimal, JSON, datetimes, which SQLite stores as text). On SQLite in the
embedded suite, on Postgres in the services suite; the race only on Postgres."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connections, transaction

from orders.models import Order
from orders.read.models import OrderSummary
from orders.tests.factories import OrderFactory
from shop.statements import from_row, update
from shop.tests.race import at_once
from tests.needs import require

READ, WRITE = "orders_read", "orders"
Status = Order.Status
PLACED_AT = datetime(2026, 12, 2, 10, 30, 15, 123456, tzinfo=UTC)

pytestmark = pytest.mark.django_db(databases=[READ, WRITE])


def a_summary(**fields) -> OrderSummary:
    defaults = {
        "generation": 1,
        "order_id": 42,
        "customer_id": 7,
        "status": "PENDING",
        "currency": "EUR",
        "total": Decimal("39.96"),
        "lines": [{"sku": "MUG-1", "unit_price": "9.99", "quantity": 4}],
        "facts": {"placed": PLACED_AT.isoformat()},
        "timeline": [],
        "placed_at": PLACED_AT,
    }
    return OrderSummary.objects.using(READ).create(**{**defaults, **fields})


def stored(summary: OrderSummary) -> OrderSummary:
    return OrderSummary.objects.using(READ).get(pk=summary.pk)


def test_update_writes_decimals_json_and_datetimes_that_the_orm_reads_back_equal():
    summary = a_summary()
    before = summary.updated_at
    summary.total = Decimal("1234567.89")
    summary.lines = [{"sku": "TEE-ü", "unit_price": "0.10", "quantity": 1, "tags": [None, True]}]
    summary.facts = {"placed": PLACED_AT.isoformat(), "confirmed": "2026-12-02T10:31:00+00:00"}
    summary.placed_at = datetime(2026, 12, 3, 0, 0, 0, 1, tzinfo=UTC)

    assert update(summary, ["total", "lines", "facts", "placed_at", "updated_at"], using=READ)

    row = stored(summary)
    assert (row.total, row.lines, row.facts, row.placed_at) == (
        summary.total,
        summary.lines,
        summary.facts,
        summary.placed_at,
    )
    # auto_now stamped as save() stamps it: in the row and on the instance alike.
    assert row.updated_at == summary.updated_at > before


def test_update_sets_only_the_fields_it_is_given():
    summary = a_summary()
    summary.status, summary.total = "CANCELLED", Decimal("1.00")

    assert update(summary, ["status"], using=READ)

    row = stored(summary)
    assert (row.status, row.total, row.updated_at) == ("CANCELLED", Decimal("39.96"), summary.updated_at)


def test_update_reads_back_the_returning_fields_as_the_orm_reads_them():
    summary = a_summary()
    changed = OrderSummary(pk=summary.pk, status="CONFIRMED")

    assert update(
        changed, ["status"], returning=["total", "facts", "lines", "placed_at", "customer_id"], using=READ
    )

    row = stored(summary)
    read_back = (changed.total, changed.facts, changed.lines, changed.placed_at, changed.customer_id)
    assert read_back == (row.total, row.facts, row.lines, row.placed_at, row.customer_id)
    assert isinstance(changed.total, Decimal)
    assert changed.placed_at.tzinfo is not None
    assert (changed._state.adding, changed._state.db) == (False, READ)


def test_a_row_that_does_not_meet_the_conditions_is_left_alone_and_nothing_is_read_back():
    order = OrderFactory(status=Status.CANCELLED)
    confirming = Order(pk=order.pk, status=Status.CONFIRMED)

    updated = update(
        confirming,
        ["status", "updated_at"],
        where={"status__in": [Status.PENDING]},
        returning=["customer_id"],
        using=WRITE,
    )

    assert updated is False
    assert confirming.customer_id is None
    row = Order.objects.get(pk=order.pk)
    assert (row.status, row.updated_at) == (Status.CANCELLED, order.updated_at)


def test_a_row_that_meets_every_condition_is_updated():
    order = OrderFactory(status=Status.CONFIRMED)
    where = {"status__in": [Status.PENDING, Status.CONFIRMED], "currency": "EUR", "tracking_code": None}

    assert update(Order(pk=order.pk, status=Status.SHIPPED), ["status"], where=where, using=WRITE)

    assert Order.objects.get(pk=order.pk).status == Status.SHIPPED


def test_an_isnull_condition_lets_only_the_first_update_set_the_field():
    order = OrderFactory(status=Status.CONFIRMED)
    first_only = {"shipment_id__isnull": True}

    first = update(Order(pk=order.pk, shipment_id=7), ["shipment_id"], where=first_only, using=WRITE)
    second = update(Order(pk=order.pk, shipment_id=8), ["shipment_id"], where=first_only, using=WRITE)

    assert (first, second) == (True, False)
    assert Order.objects.get(pk=order.pk).shipment_id == 7
    assert update(
        Order(pk=order.pk, tracking_code="T"),
        ["tracking_code"],
        where={"shipment_id__isnull": False},
        using=WRITE,
    )


def test_an_update_of_a_row_that_does_not_exist_changes_nothing():
    assert update(Order(pk=987654, status=Status.CANCELLED), ["status"], using=WRITE) is False
    assert not Order.objects.exists()


def test_an_empty_in_matches_nothing_and_sends_nothing(django_assert_num_queries):
    order = OrderFactory(status=Status.PENDING)

    with django_assert_num_queries(0, using=WRITE):
        assert (
            update(
                Order(pk=order.pk, status=Status.CANCELLED), ["status"], where={"status__in": []}, using=WRITE
            )
            is False
        )

    assert Order.objects.get(pk=order.pk).status == Status.PENDING


@pytest.mark.parametrize(
    "where",
    [{"status__startswith": "P"}, {"shipment_id__isnull": "yes"}, {"shipment_id__isnull": None}],
)
def test_a_condition_update_does_not_know_is_refused_before_anything_is_written(where):
    order = OrderFactory(status=Status.PENDING)

    with pytest.raises(ValueError, match="not a condition"):
        update(Order(pk=order.pk, status=Status.CANCELLED), ["status"], where=where, using=WRITE)

    assert Order.objects.get(pk=order.pk).status == Status.PENDING


def test_from_row_makes_the_instance_the_orm_makes_of_the_same_row():
    summary = a_summary(shipment_id=None, tracking_code="TRK-1")
    # Every field, in an order of the test's own: from_row() must not rely on the model's.
    names = [f.attname for f in OrderSummary._meta.concrete_fields][::-1]

    made = from_row(OrderSummary, names, raw_row(summary.pk, names), using=READ)

    orm = stored(summary)
    assert {name: getattr(made, name) for name in names} == {name: getattr(orm, name) for name in names}
    assert [type(getattr(made, name)) for name in names] == [type(getattr(orm, name)) for name in names]
    assert (made._state.adding, made._state.db, made.get_deferred_fields()) == (False, READ, set())


def test_from_row_of_some_fields_defers_the_others_as_only_does():
    summary = a_summary()

    made = from_row(OrderSummary, ["total", "id"], raw_row(summary.pk, ["total", "id"]), using=READ)

    assert (made.pk, made.total) == (summary.pk, Decimal("39.96"))
    assert (
        made.get_deferred_fields()
        == OrderSummary.objects.only("total").get(pk=summary.pk).get_deferred_fields()
    )
    assert made.facts == summary.facts  # a deferred field is read when first used, as the ORM does


def raw_row(pk: int, names: list[str]) -> tuple:
    connection = connections[READ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(OrderSummary._meta.get_field(name).column) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {quote(OrderSummary._meta.db_table)} WHERE id = %s", [pk])
        return cursor.fetchone()


@pytest.mark.postgres
@pytest.mark.django_db(databases=[WRITE], transaction=True)
def test_a_conditional_update_waits_for_a_concurrent_one_and_then_no_longer_matches():
    """The guarantee orders' status changes rest on: of two conditional UPDATEs racing on one
    row, the second waits for the first's transaction, then checks its conditions on the row
    as the first left it, so it cannot overwrite a change that makes them false."""
    require("PostgreSQL (DATABASE_URL_ORDERS)", connections[WRITE].vendor == "postgresql")
    order = OrderFactory(status=Status.PENDING)
    pending = {"status__in": [Status.PENDING]}
    row_locked = threading.Event()

    def confirm() -> bool:
        with transaction.atomic(using=WRITE):
            confirmed = update(
                Order(pk=order.pk, status=Status.CONFIRMED), ["status"], where=pending, using=WRITE
            )
            row_locked.set()
            wait_until_another_transaction_waits_for_this_one()
        return confirmed

    def cancel() -> bool:
        assert row_locked.wait(timeout=30)
        with transaction.atomic(using=WRITE):
            return update(Order(pk=order.pk, status=Status.CANCELLED), ["status"], where=pending, using=WRITE)

    assert at_once([confirm, cancel]) == [True, False]
    assert Order.objects.get(pk=order.pk).status == Status.CONFIRMED


def wait_until_another_transaction_waits_for_this_one(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with connections[WRITE].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (this,) = cursor.fetchone()
        while time.monotonic() < deadline:
            # pg_locks, not pg_stat_activity: that one is a snapshot taken once per transaction.
            cursor.execute("SELECT pg_blocking_pids(pid) FROM pg_locks WHERE NOT granted")
            if any(this in blockers for (blockers,) in cursor.fetchall()):
                return
            time.sleep(0.01)
    raise AssertionError(f"no other transaction waited for this one within {timeout} s")
