"""Booting the saga on a LocalCluster (shape 2); placing orders and the invariants every fault test ends
with are devtools/saga.py's, shared with the split tests and the fault drills."""

from __future__ import annotations

from devtools.cluster import LocalCluster
from devtools.http import Api, free_port
from devtools.saga import FINAL, Shop, assert_saga_invariants

__all__ = ["FINAL", "Shop", "assert_saga_invariants", "boot"]


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
