"""`make run`'s monolith, for real: a fresh data folder, migrate, seed, one server process and
nothing else — then a customer's order must reach DELIVERED over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.http import Api, free_port, wait_until_listening

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def monolith(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL_", "EVENTS_", "CELERY_"))},
        "SHOP_ENV": "dev",
        "SHOP_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DELIVERY_STEP_SECONDS": "0.3",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    for step in (["migrate_all", "-v", "0"], ["seed_demo"]):
        subprocess.run(manage + step, env=env, check=True, cwd=ROOT, capture_output=True, timeout=300)
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115  (closed in the finally below)
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_listening(port, process=server)
        yield Api(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_a_demo_order_is_delivered_by_the_monolith_alone(monolith):
    status, _ = monolith.post(
        "/api/auth/register/",
        {"username": "carol", "email": "carol@example.com", "password": "a-long-passphrase-9"},
    )
    assert status == 201
    carol = monolith.login("carol", "a-long-passphrase-9")

    status, page = monolith.get("/api/catalog/products/?in_stock=true&ordering=price")
    assert status == 200
    assert page["count"] >= 24
    product = page["results"][0]

    status, order = carol.post(
        "/api/orders/",
        {"lines": [{"product_id": product["id"], "quantity": 2}], "shipping_address": "4 Elm Row, Edinburgh"},
    )
    assert status == 201, order
    delivered = carol.wait_for(
        f"/api/orders/{order['id']}/", lambda o: o["status"] == "DELIVERED", timeout=60
    )
    assert delivered["tracking_code"]

    status, after = monolith.get(f"/api/catalog/products/{product['id']}/")
    assert after["stock"] == product["stock"] - 2
    status, shipments = carol.get("/api/delivery/shipments/")
    assert [s["status"] for s in shipments["results"]] == ["DELIVERED"]

    status, schema = monolith.get("/api/schema/?format=json")
    assert status == 200
    assert "/api/orders/" in schema["paths"]
