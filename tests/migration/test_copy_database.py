"""`manage.py copy_database ALIAS --to URL`: every row of a database moves, ids and password hashes
included, the copy proves itself equal, and a target that is not empty is never written to.

The source is whatever the suite runs on (SQLite files, or Postgres in the services suite); the
target is a SQLite file, so the suites copy within one engine and across two.
tests/migration/test_copy_across_engines.py copies SQLite -> Postgres -> Postgres -> SQLite in
processes of their own.
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import models, transaction
from hypothesis import given
from hypothesis import strategies as st

from events import publish
from events.envelope import Event
from events.inbox.dead_letters import park
from events.models import DeadLetter, InboxEntry, OutboxEvent
from events.registry import get_handler
from shop import database_copy as dbcopy
from shop.topology import ALL_ALIASES
from tests.factories import create_product, place_order

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def copy(alias: str, url: str, *args: str) -> str:
    out = io.StringIO()
    call_command("copy_database", alias, "--to", url, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def copy_fails(alias: str, url: str, *args: str) -> tuple[CommandError, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("copy_database", alias, "--to", url, *args, stdout=out, stderr=io.StringIO())
    return failure.value, out.getvalue()


def sql(path, query: str, params=()) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(query, params).fetchall()


@pytest.fixture
def shop_with_history(staff_api, customer, customer_api, drain):
    """Data in every database: users with a group and permissions, products and a price change,
    a delivered, a rejected and a cancelled order, their read side, a parked dead letter and an
    event still pending in an outbox."""
    buyers = Group.objects.create(name="buyers")
    buyers.permissions.add(*Permission.objects.filter(codename__in=["view_group", "add_group"]))
    customer.groups.add(buyers)
    customer.user_permissions.add(Permission.objects.get(codename="change_group"))
    mug = create_product(staff_api, sku="MUG", price="12.50", stock=5)
    lamp = create_product(staff_api, sku="LAMP", price="99.99", stock=1)
    drain()
    changed = staff_api.patch(f"/api/catalog/products/{mug}/", {"price": "13.10"}, format="json")
    assert changed.status_code == 200, changed.data
    drain()
    orders = {
        "delivered": place_order(customer_api, [(mug, 2)]).data["id"],
        "rejected": place_order(customer_api, [(lamp, 3)]).data["id"],
        "cancelled": place_order(customer_api, [(mug, 1)]).data["id"],
    }
    assert (
        customer_api.post(f"/api/orders/{orders['cancelled']}/cancel/", {}, format="json").status_code == 200
    )
    drain()
    poison = Event(
        type="shop.orders.order_cancelled.v1",
        source="/shop/orders",
        subject="999",
        data={"order_id": 999, "reason": "a poison message"},
    )
    park(poison, get_handler("catalog.on_order_cancelled"), error="Boom\nTraceback ...", attempts=4)
    with transaction.atomic(using="orders"):  # pending: relayed after the move, not before
        publish(
            "shop.orders.order_rejected.v1",
            key=1000,
            data={"order_id": 1000, "reason": "later"},
            using="orders",
        )
    return orders


def test_every_database_copies_whole_and_verifies_equal(shop_with_history, tmp_path):
    for alias in ALL_ALIASES:
        target = tmp_path / f"{alias}.sqlite3"
        output = copy(alias, f"sqlite:///{target}")
        assert "verified equal" in output, output
        assert "source and target are equal" in copy(alias, f"sqlite:///{target}", "--check")
        # Looked at from outside, with SQLite itself: the same rows as the source, table by table.
        for table in dbcopy.tables_of(alias):
            assert sql(target, f'SELECT count(*) FROM "{table.name}"') == [(table.count(alias),)], table.name
        outbox = OutboxEvent.objects.using(alias)
        assert sql(target, "SELECT count(*) FROM events_outboxevent WHERE published_at IS NULL") == [
            (outbox.filter(published_at__isnull=True).count(),)
        ]
    # The pending event is still pending in the copy (the next relay sends it), and the history
    # is published there as here.
    orders = tmp_path / "orders.sqlite3"
    assert sql(orders, "SELECT type FROM events_outboxevent WHERE published_at IS NULL") == [
        ("shop.orders.order_rejected.v1",)
    ]
    # The parked dead letter moved with its error, to be replayed on the new database.
    assert sql(tmp_path / "catalog.sqlite3", "SELECT handler, status, error FROM events_deadletter") == [
        ("catalog.on_order_cancelled", "parked", "Boom\nTraceback ...")
    ]
    # The read side moved as it was: the same summaries, statuses included.
    summaries = dict(
        sql(tmp_path / "orders_read.sqlite3", "SELECT order_id, status FROM orders_ordersummary")
    )
    assert summaries == {
        shop_with_history["delivered"]: "DELIVERED",
        shop_with_history["rejected"]: "REJECTED",
        shop_with_history["cancelled"]: "CANCELLED",
    }


def test_users_keep_their_passwords_groups_and_permissions_on_the_copy(shop_with_history, customer, tmp_path):
    url = f"sqlite:///{tmp_path / 'default.sqlite3'}"
    copy("default", url)
    with dbcopy.target_database(url, alias="default") as target:
        from django.contrib.auth import get_user_model

        copied = get_user_model().objects.using(target).get(pk=customer.pk)
        assert copied.password == customer.password  # the hash itself, not a new one
        assert copied.check_password("correct-horse-battery")
        assert not copied.check_password("wrong-password")
        assert [g.name for g in copied.groups.all()] == ["buyers"]
        assert set(
            Group.objects.using(target).get(name="buyers").permissions.values_list("codename", flat=True)
        ) == {
            "view_group",
            "add_group",
        }
        # Permissions point at the same content types, by the same ids.
        ours = Permission.objects.values_list("id", "codename", "content_type_id", "content_type__model")
        theirs = Permission.objects.using(target).values_list(
            "id", "codename", "content_type_id", "content_type__model"
        )
        assert sorted(theirs) == sorted(ours)
        assert set(copied.user_permissions.values_list("codename", flat=True)) == {"change_group"}


def test_the_copys_ids_continue_after_the_highest_copied_one(shop_with_history, tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    copy("catalog", url)
    from catalog.models import Product

    highest = Product.objects.order_by("-id").values_list("id", flat=True).first()
    with dbcopy.target_database(url, alias="catalog") as target:
        new = Product.objects.using(target).create(sku="NEW", name="New", price=Decimal("1.00"), stock=1)
        assert new.id == highest + 1


def test_a_target_that_holds_rows_is_refused_and_left_as_it_was(shop_with_history, tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    copy("catalog", url)
    before = sql(tmp_path / "catalog.sqlite3", "SELECT * FROM catalog_product ORDER BY id")

    error, _ = copy_fails("catalog", url)
    assert "already holds rows in catalog_product" in str(error)
    assert sql(tmp_path / "catalog.sqlite3", "SELECT * FROM catalog_product ORDER BY id") == before


def test_check_names_the_rows_that_differ_and_exits_with_status_1(shop_with_history, tmp_path):
    path = tmp_path / "catalog.sqlite3"
    copy("catalog", f"sqlite:///{path}")
    ids = [i for (i,) in sql(path, "SELECT id FROM catalog_product ORDER BY id")]
    [(event,)] = sql(path, "SELECT min(id) FROM events_outboxevent")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE catalog_product SET price = '0.01' WHERE id = ?", (ids[0],))
        db.execute("DELETE FROM catalog_product WHERE id = ?", (ids[1],))
        db.execute(
            "UPDATE events_outboxevent SET envelope = json_set(envelope, '$.data.price', '1') WHERE id = ?",
            (event,),
        )

    error, output = copy_fails("catalog", f"sqlite:///{path}", "--check")
    assert error.returncode == 1
    assert "catalog_product" in str(error)
    assert "events_outboxevent" in str(error)
    [product_line] = [line for line in output.splitlines() if line.strip().startswith("catalog_product")]
    assert f"1 row(s) only in the source (id {ids[1]})" in product_line
    assert f"1 row(s) with other values (id {ids[0]})" in product_line
    [outbox_line] = [line for line in output.splitlines() if line.strip().startswith("events_outboxevent")]
    assert f"1 row(s) with other values (id {event})" in outbox_line
    [untouched] = [
        line for line in output.splitlines() if line.strip().startswith("catalog_stockreservation")
    ]
    assert untouched.endswith("equal")


def test_a_copy_that_fails_part_way_leaves_the_target_without_rows(shop_with_history, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'orders.sqlite3'}"
    real_copy_table = dbcopy.copy_table

    def fail_on_the_outbox(table, *args, **kwargs):
        if table.name == "events_outboxevent":
            raise RuntimeError("the connection dropped")
        return real_copy_table(table, *args, **kwargs)

    monkeypatch.setattr(dbcopy, "copy_table", fail_on_the_outbox)
    with pytest.raises(RuntimeError, match="connection dropped"):
        copy("orders", url)
    path = tmp_path / "orders.sqlite3"
    for table in dbcopy.tables_of("orders"):
        assert sql(path, f'SELECT count(*) FROM "{table.name}"') == [(0,)], table.name

    monkeypatch.setattr(dbcopy, "copy_table", real_copy_table)
    assert "verified equal" in copy("orders", url)  # so it can simply be run again


def test_bad_requests_are_refused_with_a_clear_message(tmp_path):
    error, _ = copy_fails("warehouse", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert "'warehouse' is not a database of this process" in str(error)
    error, _ = copy_fails("catalog", "mysql://u:secret@h/db")
    assert "not a PostgreSQL or SQLite URL" in str(error)
    assert "secret" not in str(error)  # a password is never printed
    from django.db import connections

    source = connections["catalog"].settings_dict
    if source["ENGINE"].endswith("sqlite3"):
        error, _ = copy_fails("catalog", f"sqlite:///{source['NAME']}")
        assert "the target is the source database" in str(error)
    error, _ = copy_fails("catalog", f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.sqlite3'}")
    assert "cannot open the target" in str(error)
    error, _ = copy_fails("catalog", f"sqlite:///{tmp_path / 'x.sqlite3'}", "--batch-size", "0")
    assert "--batch-size" in str(error)


def test_check_reports_a_target_without_the_tables(tmp_path):
    error, output = copy_fails("delivery", f"sqlite:///{tmp_path / 'empty.sqlite3'}", "--check")
    assert error.returncode == 1
    assert "missing in the target" in output


# --- the checksum's canonical values ---------------------------------------------------------------


def hash_of(field: models.Field, value) -> int:
    return dbcopy.row_hasher([field])((value,))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@given(value=json_values)
def test_json_hashes_the_same_however_an_engine_spells_it(value):
    # SQLite keeps the text Django wrote; Postgres' jsonb reorders keys and respaces it.
    as_written = json.dumps(value)
    respelled = json.dumps(_reordered(value), separators=(",", ":"), ensure_ascii=False)
    assert hash_of(models.JSONField(), as_written) == hash_of(models.JSONField(), respelled)


def _reordered(value):
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def test_a_changed_json_value_changes_the_hash():
    field = models.JSONField()
    assert hash_of(field, '{"a": [1, 2]}') != hash_of(field, '{"a": [2, 1]}')
    assert hash_of(field, '{"price": "12.50"}') != hash_of(field, '{"price": "12.5"}')


def test_decimals_datetimes_booleans_and_uuids_hash_the_same_from_either_engine():
    price = models.DecimalField(max_digits=10, decimal_places=2)
    assert hash_of(price, Decimal("12.5")) == hash_of(price, Decimal("12.50"))
    assert hash_of(price, Decimal("12.5")) != hash_of(price, Decimal("12.51"))
    at = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    moment = models.DateTimeField()
    assert hash_of(moment, at) == hash_of(moment, at.astimezone(timezone(timedelta(hours=2))))
    assert hash_of(moment, at) != hash_of(moment, at.replace(microsecond=123457))
    flag = models.BooleanField()
    assert hash_of(flag, 1) == hash_of(flag, True) != hash_of(flag, False)
    key = uuid.uuid4()
    assert hash_of(models.UUIDField(), key) == hash_of(models.UUIDField(), str(key))


def test_inbox_and_dead_letters_count_as_tables_of_every_database():
    for alias in ALL_ALIASES:
        names = {t.name for t in dbcopy.tables_of(alias)}
        assert {OutboxEvent._meta.db_table, InboxEntry._meta.db_table, DeadLetter._meta.db_table} <= names
