"""Shape 3 for real: every service in processes of its own (SHOP_SERVICES=<service>, only its own
Postgres databases), relays and consumers per service on Kafka, Celery workers on Redis, nginx as
the gateway — started by the same machinery as `make split` (devtools/split.py), on fresh
databases, its own Kafka namespace and its own ports. Driven through the gateway only; the SQL
below only looks, service database by service database.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.http import Api, free_port
from devtools.split import SplitTopology, free_web_ports
from devtools.tracing import TraceBackend
from tests.integration import traces
from tests.integration.saga import FINAL, Shop, assert_saga_invariants

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e]
PASSWORD = "a-long-passphrase-9"


def call(method: str, url: str, body=None, *, token: str | None = None, headers: dict | None = None):
    """(status, headers, JSON body) of one HTTP request; the body is raw bytes if it is no JSON."""
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, head, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        status, head, raw = err.code, err.headers, err.read()
    try:
        return status, head, json.loads(raw)
    except ValueError:
        return status, head, raw


def wait_for(what: str, condition, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def split(split_services, tmp_path_factory):
    started = time.monotonic()
    run_dir = tmp_path_factory.mktemp("split")
    topology = SplitTopology(
        run_dir,
        name=f"sp{uuid.uuid4().hex[:10]}",
        gateway_port=free_port(),
        web_ports=free_web_ports(),
        settings={"DELIVERY_STEP_SECONDS": "0.5"},
        # The whole API generously (this test is one client IP placing orders from threads), the
        # auth endpoints at the default 5 r/s + 10, which the rate-limit check below exceeds.
        gateway_values={"GATEWAY_RATE": "500r/s", "GATEWAY_BURST": "1000"},
        # The real trace backend, every order traced (the tracing tests below read it back).
        tracing=TraceBackend(run_dir / "trace", ui_port=free_port(), otlp_port=free_port()),
        trace_sample=1.0,
    )
    try:
        topology.prepare(fresh=True)
        topology.start()
        print(f"\nsplit topology up in {time.monotonic() - started:.1f}s")
        yield topology
    finally:
        topology.destroy()


@pytest.fixture(scope="module")
def shop(split) -> Shop:
    """Customers registered and logged in through the gateway; the stock as seeded."""
    gateway = Api(split.url)
    customers = []
    for name in ("ann", "ben", "cat"):
        status, body = gateway.post(
            "/api/auth/register/", {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
        assert status == 201, body
        customers.append(gateway.login(name, PASSWORD))
    # Orders prices from its snapshot of the catalog (fed by catalog's events): wait for it.
    products = dict(split.cluster.sql("catalog", "SELECT id, stock FROM catalog_product WHERE active"))
    wait_for(
        "orders' product snapshot to catch up with the catalog",
        lambda: (
            split.cluster.sql("orders", "SELECT count(*) FROM orders_productsnapshot")[0][0] >= len(products)
        ),
    )
    return Shop(split.cluster, gateway, gateway.login("admin", split.admin_password), customers, products)


def order_status(shop: Shop, customer: Api, order_id: int) -> str | None:
    status, body = customer.get(f"/api/orders/{order_id}/")
    return body["status"] if status == 200 else None


def stock_of(split: SplitTopology, product_id: int) -> int:
    status, _, product = call("GET", f"{split.url}/api/catalog/products/{product_id}/")
    assert status == 200, product
    return product["stock"]


def test_a_customer_orders_through_the_gateway_and_the_order_is_delivered(split, shop):
    ann, ben = shop.customers[0], shop.customers[1]

    status, head, page = call("GET", f"{split.url}/api/catalog/products/?in_stock=true&ordering=price")
    assert status == 200
    assert page["count"] >= 24
    assert page["next"].startswith(split.url + "/api/catalog/products/")  # links go through the gateway
    assert re.fullmatch(r"[0-9a-f]{32}", head["X-Request-ID"])  # the gateway made one
    product = next(p for p in page["results"] if p["stock"] >= 10)

    request_id = f"e2e-{uuid.uuid4().hex}"
    status, head, order = call(
        "POST",
        f"{split.url}/api/orders/",
        {"lines": [{"product_id": product["id"], "quantity": 2}], "shipping_address": "4 Elm Row, Edinburgh"},
        token=ann.token,
        headers={"X-Request-ID": request_id},
    )
    assert status == 201, order
    assert head["X-Request-ID"] == request_id
    assert head.get_all("X-Request-ID") == [request_id]  # one id, the services' and the gateway's

    delivered = ann.wait_for(f"/api/orders/{order['id']}/", lambda o: o["status"] == "DELIVERED", timeout=90)
    assert delivered["tracking_code"]
    assert stock_of(split, product["id"]) == product["stock"] - 2
    status, shipments = ann.get("/api/delivery/shipments/")
    assert [(s["order_id"], s["status"]) for s in shipments["results"]] == [(order["id"], "DELIVERED")]

    # Another customer's order does not exist for ben, in either service.
    assert ben.get(f"/api/orders/{order['id']}/")[0] == 404
    assert ben.post(f"/api/orders/{order['id']}/cancel/", {})[0] == 404
    assert ben.get(f"/api/delivery/shipments/{delivered['shipment_id']}/")[0] == 404
    assert ben.get("/api/orders/")[1]["results"] == []

    # The request id travelled with the events into every service the saga went through.
    for alias, event in (
        ("orders", "shop.orders.order_placed.v1"),
        ("catalog", "shop.catalog.stock_reserved.v1"),
        ("delivery", "shop.delivery.shipment_created.v1"),
    ):
        rows = split.cluster.sql(
            alias,
            "SELECT envelope->>'requestid' FROM events_outboxevent WHERE type = %s AND key = %s",
            (event, str(order["id"])),
        )
        assert rows == [(request_id,)], (alias, rows)


def test_an_order_cancelled_before_pickup_gives_its_stock_back(split, shop):
    cat = shop.customers[2]
    product_id = next(p for p, stock in sorted(shop.initial_stock.items()) if stock >= 20)
    before = stock_of(split, product_id)

    # No delivery worker: the shipment is created but cannot be picked up before the cancel.
    split.stop_component("delivery-worker")
    try:
        status, order = cat.post(
            "/api/orders/",
            {"lines": [{"product_id": product_id, "quantity": 3}], "shipping_address": "1 Quay St, Cork"},
        )
        assert status == 201, order
        confirmed = cat.wait_for(f"/api/orders/{order['id']}/", lambda o: o["shipment_status"] == "CREATED")
        assert confirmed["status"] == "CONFIRMED"
        assert stock_of(split, product_id) == before - 3

        status, cancelled = cat.post(f"/api/orders/{order['id']}/cancel/", {"reason": "changed my mind"})
        assert status == 200, cancelled
        assert cancelled["status"] == "CANCELLED"
        wait_for("the stock to be released", lambda: stock_of(split, product_id) == before)
        shipment = cat.wait_for(
            f"/api/delivery/shipments/{confirmed['shipment_id']}/", lambda s: s["status"] == "CANCELLED"
        )
        assert [h["status"] for h in shipment["history"]][-1] == "CANCELLED"
    finally:
        split.start_component("delivery-worker")

    # The pickup task that was waiting in the queue now runs, and finds nothing to do.
    time.sleep(3)
    assert order_status(shop, cat, order["id"]) == "CANCELLED"
    assert cat.get(f"/api/delivery/shipments/{confirmed['shipment_id']}/")[1]["status"] == "CANCELLED"
    assert stock_of(split, product_id) == before
    assert cat.post(f"/api/orders/{order['id']}/cancel/", {})[0] == 409


def test_an_orders_consumer_killed_mid_flow_loses_nothing_and_applies_nothing_twice(split, shop):
    inbox = "SELECT count(*) FROM events_inboxentry"
    applied_before = split.cluster.sql("orders", inbox)[0][0]
    placed: list[int] = []
    placing = threading.Thread(target=lambda: placed.extend(shop.place_orders(24, seed=11, threads=4)))
    placing.start()
    wait_for(
        "the orders consumer to be busy with the new orders",
        lambda: split.cluster.sql("orders", inbox)[0][0] >= applied_before + 6,
        interval=0.05,
    )
    in_flight = split.cluster.sql(
        "orders", "SELECT count(*) FROM orders_order WHERE status <> ALL(%s)", (list(FINAL),)
    )
    split.kill("orders-consumer")  # SIGKILL: no cleanup, offsets of what it applied maybe not committed
    time.sleep(2)  # events keep arriving for a consumer that is not there
    split.start_component("orders-consumer")
    placing.join(timeout=120)
    assert len(placed) == 24
    assert in_flight[0][0] > 0, "nothing was in flight when the consumer died"

    every_order = [o for (o,) in split.cluster.sql("orders", "SELECT id FROM orders_order")]
    shop.wait_all_final(every_order, timeout=120)
    # Settled too: outboxes empty, no inbox entry twice in any database, and the read side (what
    # GET /api/orders/ serves) equal to the write side, order by order.
    counts = assert_saga_invariants(shop, every_order, settled=True)
    assert counts["DELIVERED"] >= 10, counts

    # Two orders replicas behind the gateway, both used.
    assert split.gateway_upstreams("/api/orders/") == split.replica_addresses("orders")


def test_the_gateway_answers_its_own_errors_in_json(split, shop):
    too_big = json.dumps({"shipping_address": "x" * 70_000}).encode()
    status, head, body = call("POST", f"{split.url}/api/orders/", too_big, token=shop.customers[0].token)
    assert status == 413
    assert body["detail"].startswith("Request body too large")
    assert body["request_id"] == head["X-Request-ID"]

    status, _, body = call("GET", f"{split.url}/no/such/route")
    assert (status, body["detail"]) == (404, "Not found.")

    # More than the auth burst (10) at once from one client: the rest are refused at the gateway.
    def verify(_):
        return call("POST", f"{split.url}/api/auth/token/verify/", {"token": "not-a-token"})

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(verify, range(40)))
    statuses = [status for status, _, _ in answers]
    assert 401 in statuses  # the first ones reached the shop service
    refused = [(head, body) for status, head, body in answers if status == 429]
    assert len(refused) >= 10, statuses
    head, body = refused[0]
    assert body["detail"].startswith("Too many requests")
    assert head["Retry-After"] == "1"
    assert head["Content-Type"] == "application/json"

    # Every catalog replica down: a JSON 502, and the other services carry on. (A process that
    # stopped refuses connections at once; a container's address vanishes with it, and until the
    # gateway's next DNS lookup of the service (at most 10 s) a connection attempt times out: a
    # JSON 504 from the gateway, then 502.)
    split.stop_component("catalog-web-1")
    try:

        def gone():
            status, head, body = call("GET", f"{split.url}/api/catalog/products/")
            assert status in (502, 504), (status, body)
            assert body["request_id"] == head["X-Request-ID"], body
            return (status, head, body) if status == 502 else None

        status, head, body = wait_for("the gateway to find no catalog replica", gone, timeout=30)
        assert body == {
            "detail": "The service is unavailable.",
            "code": "bad_gateway",
            "request_id": head["X-Request-ID"],
        }
        assert shop.customers[0].get("/api/orders/")[0] == 200
    finally:
        split.start_component("catalog-web-1")
    wait_for(
        "catalog back behind the gateway", lambda: call("GET", f"{split.url}/api/catalog/products/")[0] == 200
    )


# --- one order, one trace (tests/integration/traces.py reads and checks it) -----------------------
# The processes every delivered order passes through here (OTEL_SERVICE_NAME = the process's name).
SAGA_PROCESSES = {
    "orders-relay",
    "catalog-consumer",
    "catalog-relay",
    "orders-consumer",
    "delivery-consumer",
    "delivery-relay",
    "delivery-worker",
}


def place_traced_order(split: SplitTopology, shop: Shop, request_id: str) -> int:
    product_id = next(p for p, stock in sorted(shop.initial_stock.items()) if stock >= 10)
    status, _, order = call(
        "POST",
        f"{split.url}/api/orders/",
        {"lines": [{"product_id": product_id, "quantity": 1}], "shipping_address": "9 Mill Lane, Leeds"},
        token=shop.customers[1].token,
        headers={"X-Request-ID": request_id},
    )
    assert status == 201, order
    return order["id"]


def order_trace(split: SplitTopology, request_id: str) -> list[dict]:
    return traces.order_trace(split.tracing, request_id)


def assert_one_trace_per_order(spans: list[dict], request_id: str) -> dict[str, dict]:
    return traces.assert_one_trace_per_order(
        spans, request_id, root_process="orders-web-", processes=SAGA_PROCESSES
    )


def test_one_order_is_one_trace_across_every_service(split, shop):
    request_id = f"trace-{uuid.uuid4().hex}"
    order_id = place_traced_order(split, shop, request_id)
    delivered = shop.customers[1].wait_for(
        f"/api/orders/{order_id}/", lambda o: o["status"] == "DELIVERED", timeout=90
    )
    assert delivered["status"] == "DELIVERED"

    spans = order_trace(split, request_id)
    assert_one_trace_per_order(spans, request_id)
    # The trace id is on the log lines of the processes the order went through, with the request id.
    trace_id = spans[0]["traceId"]
    # Every line a web, relay or consumer process wrote is JSON with the ids (gunicorn's own too).
    for process in ("orders-web-1", "orders-web-2", "orders-relay", "catalog-consumer", "delivery-consumer"):
        for line in filter(str.strip, split.cluster.procs[process].output().splitlines()):
            entry = json.loads(line)
            assert {"trace_id", "span_id", "request_id"} <= entry.keys(), (process, entry)
    lines = [
        json.loads(line)
        for proc in split.cluster.procs.values()
        for line in proc.output().splitlines()
        if line.startswith("{") and trace_id in line
    ]
    assert {entry["request_id"] for entry in lines} == {request_id}, lines
    # The orders consumer logs each milestone of the order, in the order's trace.
    milestones = {e["message"].split(" ")[2] for e in lines if e["message"].startswith(f"order {order_id} ")}
    assert milestones >= {"CONFIRMED", "DELIVERED"}, lines


def test_a_relay_killed_and_restarted_continues_the_orders_trace(split, shop):
    split.kill("orders-relay")  # SIGKILL: the order's event waits in the outbox, its context with it
    try:
        request_id = f"relay-{uuid.uuid4().hex}"
        order_id = place_traced_order(split, shop, request_id)
        time.sleep(1)
        waiting = split.cluster.sql(
            "orders",
            "SELECT published_at FROM events_outboxevent WHERE type = %s AND key = %s",
            ("shop.orders.order_placed.v1", str(order_id)),
        )
        assert waiting == [(None,)]
        restarted_at_us = time.time() * 1_000_000
    finally:
        split.start_relay("orders")
    shop.customers[1].wait_for(f"/api/orders/{order_id}/", lambda o: o["status"] == "DELIVERED", timeout=90)

    spans = order_trace(split, request_id)
    creates = assert_one_trace_per_order(spans, request_id)
    create = creates["shop.orders.order_placed.v1"]
    (send,) = [s for s in spans if s.get("parentId") == create["id"] and s["name"].startswith("send ")]
    # Sent by the new relay process, in the trace the web process started before the kill.
    assert send["timestamp"] >= restarted_at_us
    assert create["localEndpoint"]["serviceName"].startswith("orders-web-")
    assert send["localEndpoint"]["serviceName"] == "orders-relay"


# --- a user's rights reach every service at once --------------------------------------------------
# Services without the user table hold tokens to their replica of users' rights, which identity's
# user_rights_changed events keep (shop/identity/rights.py -> shop-relay -> Kafka -> each
# service's consumer -> shop/rights). The changes are made in identity's own process, with the
# model as the admin or `manage.py changepassword` would.
AUTHENTICATED = ("/api/orders/", "/api/catalog/products/", "/api/delivery/shipments/")


def change_user(split: SplitTopology, username: str, change: str) -> None:
    split.manage(
        "shop",
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        f"{change}\n"
        "user.save()\n",
    )


def test_a_deactivation_or_password_change_reaches_every_service_before_the_token_expires(split):
    gateway = Api(split.url)
    users = {}
    for name in ("dora", "eve"):
        status, body = gateway.post(
            "/api/auth/register/", {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        )
        assert status == 201, body
        users[name] = gateway.login(name, PASSWORD).token
    urls = [f"{split.url}{path}" for path in AUTHENTICATED]
    for token in users.values():
        assert [call("GET", url, token=token)[0] for url in urls] == [200, 200, 200]

    def refused(token: str, code: str):
        def check() -> bool:
            answers = [call("GET", url, token=token) for url in urls]
            return all(
                status == 401 and isinstance(body, dict) and body.get("code") == code
                for status, _, body in answers
            )

        return check

    change_user(split, "dora", "user.is_active = False")
    change_user(split, "eve", "user.set_password('a-new-long-passphrase-7')")

    wait_for(
        "dora's token to be refused by orders, catalog and delivery",
        refused(users["dora"], "no_active_account"),
        timeout=30,
    )
    wait_for(
        "eve's old token to be refused by orders, catalog and delivery",
        refused(users["eve"], "password_changed"),
        timeout=30,
    )
    # Each service applied both to its own database.
    ids = tuple(
        split.cluster.sql("default", "SELECT id FROM auth_user WHERE username = %s", (n,))[0][0]
        for n in users
    )
    for alias in ("catalog", "orders", "delivery"):
        rows = split.cluster.sql(
            alias,
            "SELECT user_id, is_active FROM rights_replicatedrights"
            " WHERE user_id IN (%s, %s) ORDER BY user_id",
            ids,
        )
        assert rows == [(ids[0], False), (ids[1], True)], alias
    # A token of the new password works at once everywhere (it carries the newer rights version).
    fresh = gateway.login("eve", "a-new-long-passphrase-7").token
    assert [call("GET", url, token=fresh)[0] for url in urls] == [200, 200, 200]
    # Identity refuses the same, at its own endpoints.
    status, _, body = call("POST", f"{split.url}/api/auth/token/verify/", {"token": users["dora"]})
    assert (status, body.get("code")) == (401, "no_active_account")
