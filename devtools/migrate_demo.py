"""`make migrate-demo`: watch the whole migration on this machine, narrated step by step.

    python -m devtools.migrate_demo [--keep] [--rollback] [--orders-per-second 2]

1. Shape 1: a monolith (`runserver`, SQLite files) takes a few orders; the last one while its
   relay is off, so it is still in the outbox when the monolith stops.
2. Shape 1 -> 2: its five databases are copied to Postgres and checked, its event history goes
   to Kafka, and it starts again as shape 2 behind the gateway; the pending order completes.
3. Shape 2 -> 3 under traffic: customers keep ordering through the gateway while catalog,
   orders and delivery move out one at a time to their own databases on a second Postgres
   server (with --rollback, catalog also moves back once and out again). Each cut is measured.
4. The figures: per cut, how long the service answered errors, the orders placed meanwhile,
   the POSTs refused, and the longest POST -> CONFIRMED.

The steps and the traffic are the ones tests/migration/ runs (devtools/migration.py,
devtools/load.py). Needs what `make services` starts (Postgres, Kafka, Redis, nginx) and the
PostgreSQL server binaries for the second server. Everything it creates is removed at the end,
unless --keep leaves shape 3 running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import threading
import time
import uuid

from devtools.cluster import ROOT
from devtools.http import Api, free_port
from devtools.load import LoadClient
from devtools.migration import FIGURES_HEADER, Migration, Monolith, cut_figures
from devtools.postgres import TemporaryServer
from devtools.split import SplitTopology, free_web_ports

RUN_DIR = ROOT / ".cache" / "migrate-demo"
PASSWORD = "demo-pass-123"
CUSTOMER_PASSWORD = "a-long-passphrase-9"


def say(message: str) -> None:
    print(message, flush=True)


def shape_1(monolith: Monolith) -> tuple[dict[int, int], int]:
    """The monolith takes a few orders; returns the stock as seeded and the pending order's id."""
    say(f"\n#### shape 1: the monolith (runserver on {monolith.url}, SQLite in {monolith.data_dir})")
    monolith.prepare(PASSWORD)
    import sqlite3

    with sqlite3.connect(monolith.data_dir / "catalog.sqlite3") as db:
        stock = dict(db.execute("SELECT id, stock FROM catalog_product"))
    monolith.start()
    site = Api(monolith.url)
    alice = site.login("alice", PASSWORD)
    orders = {
        "delivered": _place(alice, [(1, 2), (2, 1)]),
        "rejected": _place(alice, [(3, 1000)]),
        "cancelled": _place(alice, [(4, 1)]),
    }
    alice.post(f"/api/orders/{orders['cancelled']}/cancel/", {})
    for name, order_id in orders.items():
        order = alice.wait_for(
            f"/api/orders/{order_id}/", lambda o, n=name: o["status"] == n.upper(), timeout=60
        )
        say(f"order {order_id}: {order['status']}")
    monolith.stop()
    monolith.start(EVENTS_RELAY_IN_PROCESS="false")
    pending = _place(alice, [(5, 1)])
    say(f"order {pending}: placed while the relay is off, so its event is still in the outbox")
    monolith.stop()
    say("the monolith is stopped")
    return stock, pending


def _place(api: Api, lines: list[tuple[int, int]]) -> int:
    status, order = api.post(
        "/api/orders/",
        {
            "lines": [{"product_id": p, "quantity": q} for p, q in lines],
            "shipping_address": "4 Elm Row, Edinburgh",
        },
    )
    if status != 201:
        raise RuntimeError(f"placing an order failed: {status} {order}")
    return order["id"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave shape 3 running until Ctrl-C")
    parser.add_argument("--rollback", action="store_true", help="also move catalog back once, then out again")
    parser.add_argument("--orders-per-second", type=float, default=2.0)
    parser.add_argument("--gateway-port", type=int, default=8090)
    args = parser.parse_args()

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    started = time.monotonic()
    monolith = Monolith(RUN_DIR / "monolith", step_seconds=1)
    stock, pending = shape_1(monolith)

    topology = SplitTopology(
        RUN_DIR / "topology",
        name=f"demo{uuid.uuid4().hex[:6]}",
        gateway_port=args.gateway_port,
        web_ports=free_web_ports(),
        settings={"DELIVERY_STEP_SECONDS": "1", "DELIVERY_STALLED_AFTER_SECONDS": "10"},
        gateway_values={"GATEWAY_RATE": "500r/s", "GATEWAY_BURST": "1000", "GATEWAY_AUTH_RATE": "50r/s"},
        secrets=monolith.secrets(),
    )
    second_server = TemporaryServer(free_port())
    migration = Migration(topology, second_server, say=say)
    try:
        say("\n#### shape 1 -> 2: copy each database to Postgres, the event history to Kafka")
        migration.move_from(monolith)
        migration.start()
        say(f"shape 2 is up behind the gateway: {topology.url}/api/docs/")
        gateway = Api(topology.url)
        alice = gateway.login("alice", PASSWORD)  # her password moved with her
        alice.wait_for(f"/api/orders/{pending}/", lambda o: o["status"] == "DELIVERED", timeout=120)
        say(f"order {pending}, pending in the monolith's outbox when it stopped: DELIVERED")

        say(f"\n#### shape 2 -> 3, one service at a time, while customers order ({args.orders_per_second}/s)")
        second_server.start()
        say(f"second Postgres server on 127.0.0.1:{second_server.port}")
        customers = [_customer(gateway, n) for n in range(3)]
        load = LoadClient(customers, sorted(stock), orders_per_second=args.orders_per_second).start()
        moves = [("catalog", "out")]
        if args.rollback:
            moves += [("catalog", "back"), ("catalog", "out")]
        moves += [("orders", "out"), ("delivery", "out")]
        try:
            migration.perform(moves, pause=3)
        finally:
            load.stop()

        say("\n#### the figures, per cut (seconds; orders placed and POSTs refused while the route was off)")
        say(FIGURES_HEADER)
        for cut in migration.cuts:
            say(cut_figures(load, cut).line())
        accepted = load.accepted_ids()
        say(
            f"{len(accepted)} orders accepted under traffic, {len(load.placements) - len(accepted)} POSTs "
            f"refused in all; shape 3 reached in {time.monotonic() - started:.0f} s"
        )
        if args.keep:
            say(f"\nshape 3 is running: {topology.url}/api/docs/ (admin / {PASSWORD}). Ctrl-C stops it.")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
    finally:
        say("stopping every process it started and removing its databases")
        migration.destroy()
        second_server.stop()
        monolith.stop()
    return 0


def _customer(gateway: Api, n: int) -> Api:
    name = f"demo-buyer{n}"
    status, body = gateway.post(
        "/api/auth/register/",
        {"username": name, "email": f"{name}@example.com", "password": CUSTOMER_PASSWORD},
    )
    if status != 201:
        raise RuntimeError(f"registering {name} failed: {status} {body}")
    return gateway.login(name, CUSTOMER_PASSWORD)


if __name__ == "__main__":
    raise SystemExit(main())
