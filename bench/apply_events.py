#!/usr/bin/env python
"""CPU per event the orders consumer applies: the read-side projection and the saga handlers.

    .venv/bin/python -m bench.apply_events [--orders 2000] [--repeat 3] [--batch 1]

A benchmark, not a test: it asserts nothing about timing, it prints figures. bench/saga_latency.py
says how much CPU the orders consumer spends per order in the whole pipeline; this isolates the
part that is ours (applying events, without kafka-python) so that a change to it can be
measured on a busy machine. What it does:

1. creates private Postgres databases for the orders service's aliases (orders, orders_read;
   the cluster of DATABASE_URL_ORDERS, role shop) and migrates them;
2. places --orders PENDING orders and makes, for each, the events the orders consumer applies:
   order_placed, stock_reserved, order_confirmed, shipment_created (data valid for their schemas);
3. applies them with events.inbox.apply.apply_batch and the real handlers, --batch records per
   transaction (1: a poll at low rates brings one record), as the consumer does per database:
   to orders_read (the projection, all four) and to orders (on_stock_reserved,
   on_shipment_created); --repeat times, each with new orders;
4. prints per event applied, best of --repeat: this process's CPU, the CPU of the Postgres
   backend it talked to (/proc/<pg_backend_pid()>/stat: the server must be on this machine),
   and statements sent (BEGIN and COMMIT included; counted in a separate small pass, since
   counting costs CPU); then drops the databases.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import interpreter, setup_django
from devtools import postgres

ALIASES = ("orders_read", "orders")  # the projection, then the saga handlers
TICKS = os.sysconf("SC_CLK_TCK")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=2000, help="orders per run (4 events each)")
    p.add_argument("--repeat", type=int, default=3, help="runs; the best is printed")
    p.add_argument("--batch", type=int, default=1, help="records per transaction (a consumer's poll)")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("DATABASE_URL_ORDERS", "postgres://shop:shop@127.0.0.1:5432/shop_orders"),
        help="any database URL on the cluster to use (only host, port, user, password are taken)",
    )
    return p.parse_args()


def main() -> int:
    args = parse_args()
    interpreter()  # its speed, measured before the load; printed with the figures
    tag = uuid.uuid4().hex[:8]
    names = {alias: f"shop_bench_apply_{tag}_{alias}" for alias in ALIASES}
    for name in names.values():
        postgres.create_database(name, base=args.pg_url)
    try:
        setup_django(
            SHOP_SERVICES="orders",  # only the orders aliases are configured
            EVENTS_TRANSPORT="local",  # what the handlers publish stays in the outbox: no relay runs
            **{f"DATABASE_URL_{a.upper()}": postgres.database_url(n, args.pg_url) for a, n in names.items()},
        )
        from django.core.management import call_command

        for alias in ALIASES:
            call_command("migrate", database=alias, verbosity=0)
        print(
            f"apply_events: {args.orders} orders x {args.repeat} runs, {args.batch} record(s) per"
            f" transaction, Postgres 15 at {args.pg_url.rsplit('@', 1)[-1].split('/')[0]},"
            f" load average {os.getloadavg()[0]:.2f}"
        )
        print(f"python {interpreter()}")
        report(args)
    finally:
        from django.db import connections

        connections.close_all()
        postgres.drop_databases(names.values(), base=args.pg_url)
    return 0


def report(args: argparse.Namespace) -> None:
    for alias in ALIASES:  # warm up: imports, caches, prepared statements
        apply(alias, make_events(50), args.batch)
    runs: dict[str, list[tuple[float, float]]] = {alias: [] for alias in ALIASES}
    for _ in range(args.repeat):
        events = make_events(args.orders)
        for alias in ALIASES:
            runs[alias].append(apply(alias, events, args.batch))
    sample = make_events(20)
    title = f"per event applied, best of {args.repeat}"
    print(f"\n  {title:36} events/order  Python CPU  Postgres CPU  statements")
    for alias in ALIASES:
        n = len(batches(alias, sample, args.batch)[1])
        python = min(r[0] for r in runs[alias])
        server = min(r[1] for r in runs[alias])
        label = {"orders_read": "projection (orders_read)", "orders": "saga handlers (orders)"}[alias]
        print(
            f"  {label:36} {n / 20:12.0f}  {python:7.3f} ms  {server:9.3f} ms"
            f"  {statements(alias, sample, args.batch):10.2f}"
        )


def make_events(orders: int) -> list[Any]:
    """`orders` new PENDING orders, and the four events of each, in the order they happen."""
    from events import Event
    from orders.models import Order

    address = "1 Main Street"
    customer = {"customer_id": 7, "shipping_address": address}
    placed = Order.objects.bulk_create(
        [Order(customer_id=7, currency="EUR", total="39.96", shipping_address=address) for _ in range(orders)]
    )
    start = datetime.now(UTC)
    events = []
    for order in placed:
        lines = [
            {"product_id": p, "sku": f"SKU-{p}", "name": f"Product {p}", "unit_price": "9.99", "quantity": 2}
            for p in (1, 2)
        ]
        at = [(start + timedelta(milliseconds=ms)).isoformat() for ms in (0, 5, 10, 15)]
        order_id, subject = order.pk, str(order.pk)
        data: list[tuple[str, str, dict[str, Any]]] = [
            (
                "shop.orders.order_placed.v1",
                "/shop/orders",
                {**customer, "currency": "EUR", "total": "39.96", "lines": lines},
            ),
            (
                "shop.catalog.stock_reserved.v1",
                "/shop/catalog",
                {"lines": [{"product_id": line["product_id"], "quantity": 2} for line in lines]},
            ),
            ("shop.orders.order_confirmed.v1", "/shop/orders", customer),
            (
                "shop.delivery.shipment_created.v1",
                "/shop/delivery",
                {"shipment_id": order_id, "tracking_code": f"TRK-{order_id}", "at": at[3]},
            ),
        ]
        events += [
            Event(type=kind, source=source, subject=subject, data={"order_id": order_id, **fields}, time=when)
            for (kind, source, fields), when in zip(data, at, strict=True)
        ]
    return events


def batches(alias: str, events: list[Any], size: int) -> tuple[list[list[Any]], list[Any]]:
    """The (event, handler) pairs of `alias`'s handlers, `size` events per batch; and the events."""
    from events.registry import all_handlers
    from events.settings import events_settings

    handlers = [h for h in all_handlers([events_settings.service_of(alias)]) if h.alias == alias]
    mine = [e for e in events if any(h.event_type == e.type for h in handlers)]
    groups = [mine[i : i + size] for i in range(0, len(mine), size)]
    return [[(e, h) for e in group for h in handlers if h.event_type == e.type] for group in groups], mine


def apply(alias: str, events: list[Any], size: int) -> tuple[float, float]:
    """Apply `alias`'s share of `events`; (Python, Postgres backend) CPU ms per event."""
    from events.inbox.apply import apply_batch

    pairs, mine = batches(alias, events, size)
    server, python = backend_cpu(alias), time.process_time()
    for batch in pairs:
        if apply_batch(batch, alias) is None:
            raise RuntimeError(f"a batch failed on {alias}: see the log")
    python, server = time.process_time() - python, backend_cpu(alias) - server
    return python * 1000 / len(mine), server * 1000 / len(mine)


def statements(alias: str, events: list[Any], size: int) -> float:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from events.inbox.apply import apply_batch

    pairs, mine = batches(alias, events, size)
    with CaptureQueriesContext(connections[alias]) as queries:
        for batch in pairs:
            apply_batch(batch, alias)
    return len(queries.captured_queries) / len(mine)


def backend_cpu(alias: str) -> float:
    """Seconds of CPU the Postgres backend of this process's `alias` connection has used."""
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


if __name__ == "__main__":
    raise SystemExit(main())
