"""The order saga seen from outside a running topology: placing orders over HTTP, and the
invariants every run must end with, checked in each service's own database (and, for the read
side, through the API that serves it).

Used by the integration and split tests (tests/integration/saga.py) and by the fault drills
(devtools/drills.py).
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from devtools.cluster import LocalCluster
from devtools.http import Api

FINAL = {"DELIVERED", "REJECTED", "CANCELLED"}
# One event of each type per aggregate on these topics: a duplicate means an effect ran twice.
ONCE_PER_AGGREGATE = {
    "orders": "shop.orders.order",
    "catalog": "shop.catalog.reservation",
    "delivery": "shop.delivery.shipment",
}
EVENT_DATABASES = ("catalog", "orders", "orders_read", "delivery")


@dataclass
class Shop:
    cluster: LocalCluster
    api: Api
    staff: Api
    customers: list[Api]
    initial_stock: dict[int, int]

    def place_orders(self, count: int, *, seed: int = 0, threads: int = 4) -> list[int]:
        """Place `count` orders from random customers for random products (some too large to
        fit the stock, so rejections happen too); returns their ids. Every POST must be 201."""
        rng = random.Random(seed)
        products = list(self.initial_stock)
        bodies = []
        for _ in range(count):
            lines = rng.sample(products, k=rng.randint(1, 3))
            bodies.append(
                (
                    rng.choice(self.customers),
                    {
                        "lines": [{"product_id": p, "quantity": rng.choice([1, 1, 2, 3, 40])} for p in lines],
                        "shipping_address": "221B Baker Street, London",
                    },
                )
            )

        def post(item):
            api, body = item
            status, order = api.post("/api/orders/", body)
            assert status == 201, order
            return order["id"]

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(post, bodies))

    def unfinished(self, order_ids: list[int]) -> list[int]:
        """Those of `order_ids` not (yet) in a final state, or not (yet) in the orders database."""
        rows = dict(
            self.cluster.sql("orders", "SELECT id, status FROM orders_order WHERE id = ANY(%s)", (order_ids,))
        )
        return [o for o in order_ids if rows.get(o) not in FINAL]

    def wait_all_final(self, order_ids: list[int], timeout: float = 90) -> None:
        self.cluster.wait_until(
            lambda: not self.unfinished(order_ids),
            timeout=timeout,
            what=f"{len(order_ids)} orders to reach a final state",
        )


def assert_saga_invariants(
    shop: Shop, order_ids: list[int], *, dead_letters_allowed: int = 0, settled: bool = False
) -> dict[str, int]:
    """Every order reached a final state; stock moved exactly once per confirmed line; one
    shipment per confirmed order and none for the others; no effect was applied twice.

    `settled`: the topology is at rest too — every outbox empty, no inbox entry twice in any
    database, and the read side (what GET /api/orders/ serves, as staff sees it) equal to the
    write side, order by order (waited for: the read side is eventually consistent)."""
    c = shop.cluster
    status = dict(c.sql("orders", "SELECT id, status FROM orders_order WHERE id = ANY(%s)", (order_ids,)))
    assert len(status) == len(order_ids), "an accepted order is missing"
    stuck = {o: s for o, s in status.items() if s not in FINAL}
    assert not stuck, f"orders not final: {stuck}"

    # Stock: what left each product is exactly the lines of orders still holding a reservation.
    reserved = defaultdict(int)
    for product_id, quantity in c.sql(
        "catalog",
        "SELECT l.product_id, l.quantity FROM catalog_reservationline l "
        "JOIN catalog_stockreservation r ON r.id = l.reservation_id WHERE r.status = 'RESERVED'",
    ):
        reserved[product_id] += quantity
    stock_now = dict(c.sql("catalog", "SELECT id, stock FROM catalog_product"))
    for product_id, before in shop.initial_stock.items():
        assert before - stock_now[product_id] == reserved[product_id], (
            f"stock of product {product_id} drifted"
        )

    # Reservations: one per order that was accepted by catalog; held exactly by delivered orders.
    reservations = dict(c.sql("catalog", "SELECT order_id, status FROM catalog_stockreservation"))
    ordered = defaultdict(int)
    for order_id, product_id, quantity in c.sql(
        "orders",
        "SELECT order_id, product_id, quantity FROM orders_orderline WHERE order_id = ANY(%s)",
        (order_ids,),
    ):
        if status[order_id] == "DELIVERED":
            ordered[product_id] += quantity
    for order_id, s in status.items():
        if s == "DELIVERED":
            assert reservations.get(order_id) == "RESERVED", order_id
        elif s == "REJECTED":
            assert order_id not in reservations, order_id
        else:  # cancelled: released if it had been reserved
            assert reservations.get(order_id) in (None, "RELEASED"), order_id
    assert dict(ordered) == {p: q for p, q in reserved.items() if q}, (
        "reserved stock != delivered order lines"
    )

    # Shipments: exactly one per delivered order, none for a rejected one.
    shipments = Counter(o for (o,) in c.sql("delivery", "SELECT order_id FROM delivery_shipment"))
    for order_id, s in status.items():
        expected = 1 if s == "DELIVERED" else 0
        if s == "CANCELLED":
            assert shipments[order_id] <= 1
        else:
            assert shipments[order_id] == expected, (order_id, s, shipments[order_id])

    for alias, topic in ONCE_PER_AGGREGATE.items():
        duplicates = c.sql(
            alias,
            "SELECT key, type, count(*) FROM events_outboxevent WHERE topic = %s"
            " GROUP BY key, type HAVING count(*) > 1",
            (topic,),
        )
        assert not duplicates, f"effects applied twice in {alias}: {duplicates}"

    parked = sum(
        c.sql(a, "SELECT count(*) FROM events_deadletter WHERE status = 'parked'")[0][0]
        for a in ONCE_PER_AGGREGATE
    )
    assert parked <= dead_letters_allowed, f"{parked} dead letters\n{c.logs()}"
    if settled:
        assert_at_rest(shop)
    return Counter(status.values())


def assert_at_rest(shop: Shop, *, timeout: float = 60) -> None:
    """Every outbox empty, no inbox entry twice in any database, and the read side equal to the
    write side for every order (waited for up to `timeout` seconds)."""
    c = shop.cluster
    for alias in EVENT_DATABASES:
        twice = c.sql(
            alias,
            "SELECT event_id, handler FROM events_inboxentry GROUP BY event_id, handler HAVING count(*) > 1",
        )
        assert twice == [], f"inbox entries twice in {alias}: {twice}"

    def outboxes_empty() -> bool:
        return all(
            c.sql(a, "SELECT count(*) FROM events_outboxevent WHERE published_at IS NULL")[0][0] == 0
            for a in EVENT_DATABASES
        )

    c.wait_until(outboxes_empty, timeout=timeout, what="every outbox to be empty")
    deadline = time.monotonic() + timeout
    while True:
        written = dict(c.sql("orders", "SELECT id, status FROM orders_order"))
        served = read_side(shop.staff)
        if served == written:
            return
        if time.monotonic() > deadline:
            differ = {o: (s, served.get(o)) for o, s in written.items() if served.get(o) != s}
            extra = set(served) - set(written)
            raise AssertionError(
                f"read side != write side: {len(differ)} differ, e.g. {list(differ.items())[:5]};"
                f" {len(extra)} only on the read side"
            )
        time.sleep(0.5)


def read_side(staff: Api) -> dict[int, str]:
    """Every order's status as GET /api/orders/ serves it to staff (all pages)."""
    seen: dict[int, str] = {}
    path: str | None = "/api/orders/?page_size=100"
    while path:
        status, page = staff.get(path)
        assert status == 200, page
        seen.update({o["id"]: o["status"] for o in page["results"]})
        path = _path_of(page["next"]) if page["next"] else None
    return seen


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
