"""Driving the saga on a LocalCluster over HTTP, and the invariants every fault test ends with."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devtools.cluster import LocalCluster
from devtools.http import Api, free_port

FINAL = {"DELIVERED", "REJECTED", "CANCELLED"}
# One event of each type per aggregate on these topics: a duplicate means an effect ran twice.
ONCE_PER_AGGREGATE = {
    "orders": "shop.orders.order",
    "catalog": "shop.catalog.reservation",
    "delivery": "shop.delivery.shipment",
}


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

    def wait_all_final(self, order_ids: list[int], timeout: float = 90) -> None:
        def done():
            rows = self.cluster.sql(
                "orders", "SELECT id, status FROM orders_order WHERE id = ANY(%s)", (order_ids,)
            )
            return len(rows) == len(order_ids) and all(status in FINAL for _, status in rows)

        self.cluster.wait_until(done, timeout=timeout, what=f"{len(order_ids)} orders to reach a final state")


def boot(cluster: LocalCluster, *, customers: int = 3, web: bool = True) -> Shop:
    """Seed users and products, start relay + consumers (+ web), and wait until the orders
    service's product snapshot has caught up with the catalog."""
    cluster.manage("seed_demo")
    cluster.start_pipeline()
    port = free_port()
    if web:
        cluster.start_web(port)
    api = Api(f"http://127.0.0.1:{port}")
    products = dict(
        cluster.sql("catalog", "SELECT id, stock FROM catalog_product WHERE active AND stock > 0")
    )
    cluster.wait_until(
        lambda: (
            cluster.sql("orders", "SELECT count(*) FROM orders_productsnapshot")[0][0]
            >= len(cluster.sql("catalog", "SELECT id FROM catalog_product"))
        ),
        what="the product snapshot to catch up",
        timeout=60,
    )
    shop = Shop(cluster, api, None, [], products)  # type: ignore[arg-type]
    if web:
        shop.staff = api.login("admin", "demo-pass-123")
        for n in range(customers):
            status, body = api.post(
                "/api/auth/register/",
                {
                    "username": f"buyer{n}",
                    "email": f"buyer{n}@example.com",
                    "password": "a-long-passphrase-9",
                },
            )
            assert status == 201, body
            shop.customers.append(api.login(f"buyer{n}", "a-long-passphrase-9"))
    return shop


def assert_saga_invariants(
    shop: Shop, order_ids: list[int], *, dead_letters_allowed: int = 0
) -> dict[str, int]:
    """Every order reached a final state; stock moved exactly once per confirmed line; one
    shipment per confirmed order and none for the others; no effect was applied twice."""
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
    return Counter(status.values())
