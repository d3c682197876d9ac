"""Shape 1 -> shape 2, performed: a monolith with history is stopped, its five SQLite databases are
copied to Postgres, and the same code carries on as shape 2 on Postgres and Kafka.

The monolith is a real `manage.py runserver` (in-process relay and Celery), driven over HTTP into
every state: delivered, shipped, pending, cancelled and rejected orders, a parked dead letter,
price changes (one still unsent when it stops), users. Then devtools/migration.py runs the
README's runbook: copy_database and --check for each database, ensure_topics,
publish_event_history, shape 2's processes behind the gateway. What the move must not break is
checked through the gateway, the way the customers see it.
"""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from devtools import processes
from devtools.http import Api, free_port
from devtools.migration import Migration, Monolith
from devtools.split import SplitTopology
from tests.integration.saga import FINAL, Shop, assert_saga_invariants

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e]
PASSWORD = "demo-pass-123"
CUSTOMER_PASSWORD = "a-long-passphrase-9"
READ_SIDE = (
    "SELECT order_id, customer_id, status, status_reason, total, lines::text, shipment_id, shipment_status,"
    " tracking_code, facts::text, timeline::text, placed_at FROM orders_ordersummary s"
    " JOIN orders_projectionstate p ON s.generation = p.active_generation ORDER BY order_id"
)


def register(api: Api, name: str) -> Api:
    status, body = api.post(
        "/api/auth/register/",
        {"username": name, "email": f"{name}@example.com", "password": CUSTOMER_PASSWORD},
    )
    assert status == 201, body
    return api.login(name, CUSTOMER_PASSWORD)


def place(api: Api, lines: list[tuple[int, int]]) -> int:
    status, order = api.post(
        "/api/orders/",
        {
            "lines": [{"product_id": p, "quantity": q} for p, q in lines],
            "shipping_address": "4 Elm Row, Edinburgh",
        },
    )
    assert status == 201, order
    return order["id"]


def status_of(api: Api, order_id: int) -> str | None:
    status, order = api.get(f"/api/orders/{order_id}/")
    return order["status"] if status == 200 else None


def what_they_see(customers: dict[str, Api], anonymous: Api) -> dict:
    """Everything each user sees of their orders and shipments, and the catalog with its stock."""
    seen = {}
    for name, api in customers.items():
        status, orders = api.get("/api/orders/?page_size=100")
        assert status == 200, orders
        details = {o["id"]: api.get(f"/api/orders/{o['id']}/")[1] for o in orders["results"]}
        status, shipments = api.get("/api/delivery/shipments/?page_size=100")
        assert status == 200, shipments
        seen[name] = {"orders": orders["results"], "details": details, "shipments": shipments["results"]}
    status, products = anonymous.get("/api/catalog/products/?page_size=100")
    assert status == 200, products
    seen["catalog"] = products["results"]
    return seen


@pytest.fixture
def prepared_monolith(split_services, tmp_path):
    monolith = Monolith(tmp_path / "monolith", step_seconds=2)
    try:
        monolith.prepare(PASSWORD)
        yield monolith
    finally:
        monolith.stop()


def snapshot_price(monolith: Monolith, product_id: int):
    """What orders prices a product at (its snapshot, fed by catalog's events in-process)."""
    with sqlite3.connect(monolith.data_dir / "orders.sqlite3") as db:
        return db.execute(
            "SELECT price FROM orders_productsnapshot WHERE product_id = ?", (product_id,)
        ).fetchone()[0]


def test_a_live_monolith_moves_to_postgres_and_kafka_and_carries_on(prepared_monolith, tmp_path):
    monolith = prepared_monolith
    with sqlite3.connect(monolith.data_dir / "catalog.sqlite3") as db:
        initial_stock = dict(db.execute("SELECT id, stock FROM catalog_product"))
    # The monolith's own recovery of lost shipment steps would deliver the shipped order while it
    # is restarted below; shape 2 recovers it (see the end).
    slow_recovery = {"DELIVERY_STALLED_AFTER_SECONDS": "3600"}

    # --- shape 1, into every state ------------------------------------------------------------------
    # A handler bug: catalog cannot apply order_placed, so the order is parked and stays PENDING.
    monolith.start(EVENTS_FAIL_HANDLER="catalog.on_order_placed", **slow_recovery)
    site = Api(monolith.url)
    ann, ben = register(site, "ann"), register(site, "ben")
    alice, staff = site.login("alice", PASSWORD), site.login("admin", PASSWORD)
    parked = place(ann, [(3, 1)])
    ann.wait_for(f"/api/orders/{parked}/", lambda o: o["status"] == "PENDING")
    monolith.stop()

    monolith.start(**slow_recovery)
    status, changed = staff.request("PATCH", "/api/catalog/products/1/", {"price": "11.11"})
    assert status == 200, changed
    processes.wait_until(lambda: money(snapshot_price(monolith, 1)) == money("11.11"), what="the new price")
    delivered = place(ann, [(1, 2), (2, 1)])
    rejected = place(ben, [(4, 1000)])
    cancelled = place(alice, [(5, 1)])
    assert alice.post(f"/api/orders/{cancelled}/cancel/", {})[0] == 200
    ann.wait_for(f"/api/orders/{delivered}/", lambda o: o["status"] == "DELIVERED", timeout=60)
    ben.wait_for(f"/api/orders/{rejected}/", lambda o: o["status"] == "REJECTED")
    assert money(ann.get(f"/api/orders/{delivered}/")[1]["lines"][0]["unit_price"]) == money("11.11")
    shipped = place(ben, [(6, 2)])
    ben.wait_for(f"/api/orders/{shipped}/", lambda o: o["status"] == "SHIPPED", timeout=60, interval=0.05)
    monolith.stop()  # its next step was a task in the monolith's memory: gone with it

    # The relay off: what happens now stays in the outboxes, unsent, when it stops.
    monolith.start(EVENTS_RELAY_IN_PROCESS="false", **slow_recovery)
    pending = place(ben, [(7, 1)])
    status, changed = staff.request("PATCH", "/api/catalog/products/8/", {"price": "88.88"})
    assert status == 200, changed
    users = {"ann": ann, "ben": ben, "alice": alice, "admin": staff}
    before = what_they_see(users, site)
    monolith.stop()
    assert {o["id"]: o["status"] for o in before["admin"]["orders"]} == {
        parked: "PENDING",
        delivered: "DELIVERED",
        rejected: "REJECTED",
        cancelled: "CANCELLED",
        shipped: "SHIPPED",
        # `pending` is not on the read side yet: its order_placed never left the outbox.
    }

    # --- the move: the README's runbook --------------------------------------------------------------
    topology = SplitTopology(
        tmp_path / "shape2",
        name=f"mg{uuid.uuid4().hex[:10]}",
        gateway_port=free_port(),
        settings={"DELIVERY_STEP_SECONDS": "0.5", "DELIVERY_STALLED_AFTER_SECONDS": "5"},
        gateway_values={"GATEWAY_RATE": "500r/s", "GATEWAY_BURST": "1000"},
        secrets=monolith.secrets(),  # the same keys: tokens issued before the move stay valid
    )
    migration = Migration(topology, None, say=print)
    try:
        copies = migration.move_from(monolith)
        assert all("verified equal" in output for output in copies.values()), copies
        copied_read_side = migration.cluster.sql("orders_read", READ_SIDE)
        migration.start_web_only()
        gateway = Api(topology.url)
        for user in users.values():
            user.base_url = gateway.base_url

        # Every user sees exactly what they saw before, with the tokens they had before.
        assert what_they_see(users, gateway) == before
        for name, password in (("ann", CUSTOMER_PASSWORD), ("alice", PASSWORD), ("admin", PASSWORD)):
            gateway.login(name, password)  # old passwords: the hashes moved as they were
        assert gateway.post("/api/auth/token/verify/", {"token": ann.token})[0] == 200

        # The read side rebuilds from the Kafka log (the history published there) and equals the
        # one that was copied, though the monolith had dispatched all of it in-process.
        print(migration.monolith_manage("rebuild_projections"))
        assert migration.cluster.sql("orders_read", READ_SIDE) == copied_read_side

        migration.start_pipeline()
        # What was pending in the outboxes when the monolith stopped is delivered, once.
        ben.wait_for(f"/api/orders/{pending}/", lambda o: o["status"] == "DELIVERED", timeout=90)
        migration.cluster.wait_until(
            lambda: (
                migration.cluster.sql(
                    "orders", "SELECT price FROM orders_productsnapshot WHERE product_id = 8"
                )
                == [(money("88.88"),)]
            ),
            what="the price change left unsent by the monolith to reach orders",
        )
        # The shipment whose next step died with the monolith is resumed and delivered.
        ben.wait_for(f"/api/orders/{shipped}/", lambda o: o["status"] == "DELIVERED", timeout=90)

        # The parked dead letter replays once the bug is gone, exactly once.
        replayed = migration.monolith_manage("replay_dead_letters")
        assert "catalog.on_order_placed: applied" in replayed, replayed
        assert migration.monolith_manage("replay_dead_letters").strip() == ""
        ann.wait_for(f"/api/orders/{parked}/", lambda o: o["status"] == "DELIVERED", timeout=90)

        # New customers and orders carry on where the ids left off.
        carl = register(gateway, "carl")
        new_orders = [place(carl, [(8, 1)]), place(ann, [(1, 1), (9, 2)]), place(alice, [(10, 1)])]
        assert min(new_orders) > max(o["id"] for o in before["admin"]["orders"])
        for order_id in new_orders:
            gateway_user = carl if order_id == new_orders[0] else ann if order_id == new_orders[1] else alice
            gateway_user.wait_for(
                f"/api/orders/{order_id}/", lambda o: o["status"] == "DELIVERED", timeout=90
            )
        assert carl.get(f"/api/orders/{new_orders[0]}/")[1]["lines"][0]["unit_price"] == "88.88"

        every_order = [o for (o,) in migration.cluster.sql("orders", "SELECT id FROM orders_order")]
        assert sorted(every_order) == sorted(
            [parked, delivered, rejected, cancelled, shipped, pending, *new_orders]
        )
        shop = Shop(migration.cluster, gateway, staff, [], initial_stock)
        shop.wait_all_final(every_order)
        outcome = assert_saga_invariants(shop, every_order)
        assert outcome == {"DELIVERED": 7, "REJECTED": 1, "CANCELLED": 1}, outcome
        for alias in migration.cluster_aliases():
            twice = migration.cluster.sql(
                alias, "SELECT event_id, handler FROM events_inboxentry GROUP BY 1, 2 HAVING count(*) > 1"
            )
            assert twice == [], (alias, twice)

        # And the read side, rebuilt once more from the whole log, equals the live one.
        migration.cluster.wait_until(
            lambda: (
                {s for (s,) in migration.cluster.sql("orders_read", "SELECT status FROM orders_ordersummary")}
                <= FINAL
            ),
            what="the read side to catch up",
        )
        live = migration.cluster.sql("orders_read", READ_SIDE)
        print(migration.monolith_manage("rebuild_projections"))
        assert migration.cluster.sql("orders_read", READ_SIDE) == live
    finally:
        migration.destroy()


def money(value):
    from decimal import Decimal

    return Decimal(str(value))
