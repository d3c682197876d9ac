"""`make run`'s monolith, for real: a fresh data folder, migrate, seed, one server process and
nothing else — a customer's order reaches DELIVERED over HTTP, a pending order times out (Celery
beat really runs), and SIGTERM alone stops everything the server started."""

from __future__ import annotations

import signal
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from devtools import reaper
from devtools.http import Api

pytestmark = pytest.mark.e2e


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


def test_a_pending_order_times_out_in_the_monolith(start_monolith):
    """Celery beat runs inside the web process and its tasks reach the worker there: an order
    nobody answers (catalog is not served here, as while it moves out) is cancelled on time."""
    monolith, _ = start_monolith(
        SHOP_SERVICES="shop,orders,delivery",
        ORDER_PENDING_TIMEOUT_MINUTES="0.02",  # 1.2 s
        ORDER_EXPIRY_CHECK_SECONDS="1",
    )
    alice = monolith.login("alice", "demo-pass-123")
    status, order = alice.post(
        "/api/orders/", {"lines": [{"product_id": 1, "quantity": 1}], "shipping_address": "1 Quiet Lane"}
    )
    assert (status, order["status"]) == (201, "PENDING"), order

    cancelled = alice.wait_for(
        f"/api/orders/{order['id']}/", lambda o: o["status"] == "CANCELLED", timeout=60
    )
    assert cancelled["status_reason"] == "timed out"


def test_sigterm_alone_stops_the_monolith_and_everything_it_started(start_monolith):
    monolith, server = start_monolith()
    assert monolith.get("/healthz")[0] == 200
    # The relay, the Celery worker and beat are threads: the server is a single process.
    started = reaper.descendants(server.pid)
    assert started == [], started

    server.send_signal(signal.SIGTERM)

    assert server.wait(timeout=20) is not None
    still_running = [p for p in started if Path(f"/proc/{p.pid}").exists()]
    assert still_running == []


def test_sigterm_waits_for_the_event_in_hand_to_be_handled_and_marked(start_monolith, data_dir):
    """Stopped while a handler runs, the monolith exits once the event is handled and marked
    published. Cut off between the two, it would leave an event that every handler saw but that
    looks unsent, missing from the history publish_event_history moves to Kafka."""
    monolith, server = start_monolith(EVENTS_SLOW_HANDLER="catalog.on_order_placed:3")
    alice = monolith.login("alice", "demo-pass-123")
    status, order = alice.post(
        "/api/orders/", {"lines": [{"product_id": 2, "quantity": 1}], "shipping_address": "1 Quiet Lane"}
    )
    assert status == 201, order
    time.sleep(1)  # woken at commit, the relay is inside catalog's handler now, for 3 s

    server.send_signal(signal.SIGTERM)

    assert server.wait(timeout=20) == 0
    with sqlite3.connect(data_dir / "data" / "orders.sqlite3") as db:
        event_id, published_at = db.execute(
            "SELECT event_id, published_at FROM events_outboxevent WHERE type = ? AND key = ?",
            ("shop.orders.order_placed.v1", str(order["id"])),
        ).fetchone()
    assert published_at is not None
    with sqlite3.connect(data_dir / "data" / "catalog.sqlite3") as db:
        handled = db.execute(
            "SELECT handler FROM events_inboxentry WHERE event_id = ?", (event_id,)
        ).fetchall()
    assert handled == [("catalog.on_order_placed",)]


@pytest.mark.redis
def test_login_limits_hold_across_processes_and_restarts(start_monolith):
    """With Redis as the cache (CACHE_URL), every process counts against one limit: guesses
    spread over two servers are counted together, and a restart forgets none of them."""
    from devtools.services import REDIS

    shared = {
        "CACHE_URL": REDIS,
        "CACHE_KEY_PREFIX": f"limits-{uuid.uuid4().hex}",  # this test's counters only
        "SHOP_THROTTLE_RATES": "auth.token.username=3/day",  # a window that will not turn mid-test
    }
    one, first_server = start_monolith(**shared)
    two, _ = start_monolith(**shared)

    def guess(api: Api) -> int:
        return api.post("/api/auth/token/", {"username": "alice", "password": "wrong"})[0]

    assert [guess(one), guess(two), guess(one)] == [401, 401, 401]
    assert [guess(two), guess(one)] == [429, 429]

    first_server.terminate()
    first_server.wait(timeout=20)
    three, _ = start_monolith(**shared)
    assert guess(three) == 429
