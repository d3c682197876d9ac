#!/usr/bin/env python
"""Latency of GET /api/orders/ (the CQRS read side) as the number of orders grows.

    .venv/bin/python -m bench.read_model_list [--sizes 1000,100000] [--requests 300]

A benchmark, not a test: it asserts nothing about timing, it prints figures. The claim it checks
(orders/read/models.py, orders/api/views.NewestFirst): every list query is "generation = active
[AND one filter] ORDER BY placed_at DESC, order_id DESC LIMIT page+1", served by an index without
a sort, COUNT or OFFSET, so a page costs the same with 1k or 100k orders: p95(large)/p95(small) ≈ 1.

What it does:

1. creates one private Postgres database per size (shop_bench_read_<hex>_<N>, on the cluster of
   DATABASE_URL_ORDERS_READ or --pg-url; role shop needs CREATEDB) and points the `orders_read`
   alias at it (SHOP_SERVICES=orders; the `orders` write alias is an unused SQLite file in a
   temporary folder: the list endpoint never touches it);
2. migrates it (`migrate --database orders_read`), lets projection_state() create the state row
   (active generation 1), COPYs in N OrderSummary rows and their OrderSummaryProduct rows —
   ~2,000 customers and ~500 products with skewed popularity, 1-3 products per order, statuses
   by age, placed_at spread over a year, lines with names/sku, timelines of the saga's facts —
   then VACUUM ANALYZE;
3. times GET /api/orders/ through the real stack in-process (DRF APIClient, RS256 bearer tokens
   made by shop.identity's access_token_for, its authentication (stateless here: no users), the view,
   NewestFirst cursor pagination, the serializer, JSON rendering) for several query shapes
   (each page's order ids first checked against a plain SQL query), and separately the list
   query's SQL alone (captured with CaptureQueriesContext, replayed on the same connection);
4. interleaves everything to be fair on a busy machine: each size keeps its own open connection
   (a Django DatabaseWrapper per database, swapped into `connections["orders_read"]`), and every
   timed step runs each shape at each size back to back (sizes in random order), so drift in
   machine load hits every cell alike;
5. prints EXPLAIN (ANALYZE, BUFFERS) of each shape's SQL per size, and the tables: p50/p95/p99
   per shape per size and p95(largest)/p95(smallest) for the request, for the list SQL alone as
   the client sees it, and for its server-side execution time (EXPLAIN ANALYZE, TIMING off),
   plus the shared buffers the plan touches — the noise-free measure of how much work a page is;
6. drops its databases.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.common import human, markdown_table, percentile, setup_django
from devtools import postgres

READ_ALIAS = "orders_read"
CUSTOMERS = 2_000
PRODUCTS = 500
STAFF_USER_ID = 9_000_001  # no customer has this id
NOW = datetime.now(UTC).replace(microsecond=0)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,100000", help="numbers of orders, comma separated")
    p.add_argument("--requests", type=int, default=300, help="timed requests per shape per size")
    p.add_argument("--warmup", type=int, default=30, help="untimed requests per shape per size")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--pg-url",
        default=os.environ.get(
            "DATABASE_URL_ORDERS_READ", "postgres://shop:shop@127.0.0.1:5432/shop_orders_read"
        ),
        help="any database URL on the cluster to use (only host, port, user, password are taken)",
    )
    p.add_argument("--no-explain", action="store_true", help="do not print the EXPLAIN plans")
    p.add_argument("--keep-dbs", action="store_true", help="do not drop the bench databases")
    args = p.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not args.sizes:
        p.error("--sizes is empty")
    return args


# --- set-up before Django ----------------------------------------------------------------------


def configure_django(read_url: str, tmp: Path) -> None:
    """A web process of the orders service whose read side is the database at `read_url`."""
    setup_django(
        SHOP_SERVICES="orders",  # aliases orders + orders_read only; no users table
        DATABASE_URL_ORDERS_READ=read_url,
        DATABASE_URL_ORDERS=f"sqlite:///{tmp / 'orders.sqlite3'}",  # never used by a list
        EVENTS_TRANSPORT="local",
        DJANGO_ALLOWED_HOSTS="testserver",  # the test client's host
        JWT_ACCESS_MINUTES="600",  # the tokens must outlive the run
    )


# --- data --------------------------------------------------------------------------------------

ADJECTIVES = ["Blue", "Classic", "Compact", "Deluxe", "Eco", "Heavy", "Linen", "Oak", "Retro", "Steel"]
NOUNS = ["mug", "shirt", "lamp", "book", "chair", "kettle", "backpack", "scarf", "plate", "clock"]
STREETS = ["Main Street", "Rue de la Paix", "Hauptstrasse", "Via Roma", "Calle Mayor", "High Street"]
CITIES = ["75002 Paris", "10115 Berlin", "00184 Roma", "28013 Madrid", "SW1A 1AA London", "1012 Amsterdam"]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1 / (rank**s) for rank in range(1, n + 1)]


@dataclass
class Catalog:
    """Products with a skewed popularity and customers with a skewed order rate (the same for
    every size, so the same product / customer is benchmarked at each size)."""

    products: dict[int, dict]
    product_ids: list[int]
    product_cum: list[float]
    customer_ids: list[int]
    customer_cum: list[float]
    top_product: int
    mid_product: int
    rare_product: int
    heavy_customer: int

    @classmethod
    def make(cls, seed: int, largest: int) -> Catalog:
        rng = random.Random(seed)
        products = {}
        for pid in range(1, PRODUCTS + 1):
            products[pid] = {
                "sku": f"SKU-{pid:05d}",
                "name": f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {pid}",
                "unit_price": Decimal(rng.randint(199, 19_999)) / 100,
            }
        product_ids = list(products)
        rng.shuffle(product_ids)  # rank -> product id
        pweights = zipf_weights(PRODUCTS, 0.8)
        customer_ids = list(range(1, CUSTOMERS + 1))
        rng.shuffle(customer_ids)
        cweights = zipf_weights(CUSTOMERS, 0.7)
        ptotal = sum(pweights)

        # ~1.8 lines per order: a product of weight w is in ~1.8w of the orders.
        def rank_for(share: float) -> int:
            return min(range(PRODUCTS), key=lambda r: abs(1.83 * pweights[r] / ptotal - share))

        # "Rare": in ~0.2% of orders. "Mid": in sqrt(21 / N) of the N orders of the largest size,
        # where "newest orders, keep those with the product" (21/share rows to read) and "every
        # order with the product, then sort" (share * N rows) cost the same: the popularity at
        # which a plan of either kind does the most work for one page of 20 (+1).
        rare_rank = rank_for(0.002)
        mid_rank = rank_for(math.sqrt(21 / largest))
        return cls(
            products=products,
            product_ids=product_ids,
            product_cum=list(itertools.accumulate(pweights)),
            customer_ids=customer_ids,
            customer_cum=list(itertools.accumulate(cweights)),
            top_product=product_ids[0],
            mid_product=product_ids[mid_rank],
            rare_product=product_ids[rare_rank],
            heavy_customer=customer_ids[0],
        )

    def pick_product(self, rng: random.Random) -> int:
        return self.product_ids[bisect.bisect(self.product_cum, rng.random() * self.product_cum[-1])]

    def pick_customer(self, rng: random.Random) -> int:
        return self.customer_ids[bisect.bisect(self.customer_cum, rng.random() * self.customer_cum[-1])]


def status_for_age(age: timedelta, rng: random.Random) -> str:
    """Recent orders are still moving through the saga; old ones have settled."""
    if age < timedelta(days=2):
        table = [
            ("PENDING", 10),
            ("CONFIRMED", 40),
            ("SHIPPED", 30),
            ("DELIVERED", 10),
            ("CANCELLED", 5),
            ("REJECTED", 5),
        ]
    elif age < timedelta(days=14):
        table = [("CONFIRMED", 5), ("SHIPPED", 35), ("DELIVERED", 45), ("CANCELLED", 8), ("REJECTED", 7)]
    else:
        table = [("DELIVERED", 82), ("CANCELLED", 10), ("REJECTED", 8)]
    statuses, weights = zip(*table, strict=True)
    return rng.choices(statuses, weights)[0]


# The facts of each outcome, in saga order (orders/read/projection.py FACTS); 3-8 entries except a
# PENDING order, which has only seen the first one or two.
_CONFIRMED = ["placed", "stock_reserved", "confirmed", "shipment_created"]
_PICKED_UP = [*_CONFIRMED, "shipment_picked_up", "shipped"]
FACT_PATHS = {
    "PENDING": [["placed"], ["placed", "stock_reserved"]],
    "REJECTED": [["placed", "stock_rejected", "rejected"]],
    "CONFIRMED": [_CONFIRMED],
    "SHIPPED": [_PICKED_UP, [*_PICKED_UP, "shipment_in_transit"]],
    "DELIVERED": [[*_PICKED_UP, "shipment_delivered", "delivered"]],
    "CANCELLED": [
        ["placed", "stock_reserved", "confirmed", "cancelled", "stock_released"],
        [*_CONFIRMED, "cancelled", "stock_released", "shipment_cancelled"],
    ],
}
REASONS = {
    "rejected": ["insufficient stock for SKU", "product no longer available"],
    "cancelled": ["cancelled by the customer", "cancelled by staff", "not confirmed in time"],
}


def make_summaries(n: int, catalog: Catalog, seed: int) -> tuple[list[tuple], list[tuple], datetime]:
    from orders.read.projection import SHIPMENT_STATUS  # the projection's own rule for the status

    """N OrderSummary rows and their OrderSummaryProduct rows (generation 1), as COPY tuples in
    the column order of SUMMARY_COLUMNS / PRODUCT_COLUMNS. Order ids grow with placed_at."""
    rng = random.Random(seed * 1_000_003 + n)
    year = 365 * 24 * 3600
    offsets = sorted(rng.uniform(0, year) for _ in range(n))
    summaries, products = [], []
    newest = None
    for i, offset in enumerate(offsets):
        order_id = i + 1
        placed_at = NOW - timedelta(seconds=year - offset)
        customer_id = catalog.pick_customer(rng)
        pids: list[int] = []
        while len(pids) < rng.choice((1, 1, 2, 2, 2, 3)):
            pid = catalog.pick_product(rng)
            if pid not in pids:
                pids.append(pid)
        lines = []
        total = Decimal("0.00")
        for pid in pids:
            product = catalog.products[pid]
            quantity = rng.choice((1, 1, 1, 2, 2, 3, 4, 5))
            line_total = product["unit_price"] * quantity
            total += line_total
            lines.append(
                {
                    "product_id": pid,
                    "sku": product["sku"],
                    "name": product["name"],
                    "unit_price": f"{product['unit_price']:.2f}",
                    "quantity": quantity,
                    "line_total": f"{line_total:.2f}",
                }
            )
        status = status_for_age(NOW - placed_at, rng)
        path = rng.choice(FACT_PATHS[status])
        at = placed_at
        facts, timeline = {}, []
        tracking = f"TRK{order_id:010d}" if "shipment_picked_up" in path else ""
        reason = ""
        for fact in path:
            if timeline:
                step = (
                    rng.uniform(0.2, 3)
                    if fact.startswith("stock") or fact == "confirmed"
                    else rng.uniform(600, 86_400)
                )
                at = min(at + timedelta(seconds=step), NOW)
            if fact in REASONS:
                reason = rng.choice(REASONS[fact])
            detail = reason if fact in REASONS else (tracking if fact == "shipment_picked_up" else "")
            stamp = at.isoformat()
            facts[fact] = stamp
            timeline.append(
                {
                    "at": stamp,
                    "fact": fact,
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "detail": detail,
                }
            )
        shipment_status = next((s for f, s in SHIPMENT_STATUS if f in facts), "")
        shipping_address = f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(CITIES)}"
        summaries.append(
            (
                1,  # generation
                order_id,
                customer_id,
                status,
                reason,
                "EUR",
                total,
                shipping_address,
                json.dumps(lines),
                order_id + 700_000 if "shipment_created" in facts else None,
                shipment_status,
                tracking,
                json.dumps(facts),
                json.dumps(timeline),
                placed_at,
                at,  # updated_at: when the last event was applied
            )
        )
        for pid in pids:
            products.append((1, order_id, pid, customer_id, placed_at))
        newest = at if newest is None else max(newest, at)
    return summaries, products, newest


SUMMARY_COLUMNS = [
    "generation", "order_id", "customer_id", "status", "status_reason", "currency", "total",
    "shipping_address", "lines", "shipment_id", "shipment_status", "tracking_code", "facts",
    "timeline", "placed_at", "updated_at",
]  # fmt: skip
PRODUCT_COLUMNS = ["generation", "order_id", "product_id", "customer_id", "placed_at"]


def copy_rows(table: str, columns: list[str], rows: list[tuple]) -> None:
    from django.db import connections

    connection = connections[READ_ALIAS]
    connection.ensure_connection()
    raw = connection.connection  # psycopg 3, autocommit: COPY commits on its own
    cols = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


_WRAPPERS: dict = {}


def switch_database(name: str) -> None:
    """Make `orders_read` mean database `name`: one DatabaseWrapper (and, once used, one open
    connection) per database, swapped into the connection handler, so switching costs nothing
    and every size keeps a warm connection, as a long-running web process would."""
    from django.db import connections

    current = connections[READ_ALIAS]
    if current.settings_dict["NAME"] == name:
        return
    wrapper = _WRAPPERS.get(name)
    if wrapper is None:
        wrapper = type(current)({**current.settings_dict, "NAME": name}, READ_ALIAS)
        _WRAPPERS[name] = wrapper
    _WRAPPERS.setdefault(current.settings_dict["NAME"], current)
    connections[READ_ALIAS] = wrapper


def close_all_wrappers() -> None:
    for wrapper in _WRAPPERS.values():
        with contextlib.suppress(Exception):
            wrapper.close()


def build_database(name: str, n: int, catalog: Catalog, seed: int) -> dict:
    from django.core.management import call_command
    from django.db import connections

    from orders.read.models import OrderSummary, OrderSummaryProduct, ProjectionState
    from orders.read.projection import projection_state

    switch_database(name)
    started = time.perf_counter()
    call_command("migrate", database=READ_ALIAS, verbosity=0, interactive=False)
    state = projection_state()  # creates the row: active generation 1
    summaries, products, newest = make_summaries(n, catalog, seed)
    copy_rows(OrderSummary._meta.db_table, SUMMARY_COLUMNS, summaries)
    copy_rows(OrderSummaryProduct._meta.db_table, PRODUCT_COLUMNS, products)
    ProjectionState.objects.using(READ_ALIAS).filter(name=state.name).update(
        events_applied=sum(len(json.loads(row[13])) for row in summaries),
        last_event_time=newest,
        last_applied_at=newest,
    )
    with connections[READ_ALIAS].cursor() as cursor:
        for model in (OrderSummary, OrderSummaryProduct, ProjectionState):
            cursor.execute(f'VACUUM (ANALYZE) "{model._meta.db_table}"')
        cursor.execute(
            "SELECT pg_total_relation_size(%s), pg_total_relation_size(%s)",
            [OrderSummary._meta.db_table, OrderSummaryProduct._meta.db_table],
        )
        summary_bytes, product_bytes = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FILTER (WHERE product_id = %s), count(*) FILTER (WHERE product_id = %s),"
            f' count(*) FILTER (WHERE product_id = %s) FROM "{OrderSummaryProduct._meta.db_table}"',
            [catalog.top_product, catalog.mid_product, catalog.rare_product],
        )
        top, mid, rare = cursor.fetchone()
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE customer_id = %s), count(*) FILTER (WHERE status = %s)"
            f' FROM "{OrderSummary._meta.db_table}"',
            [catalog.heavy_customer, "CANCELLED"],
        )
        heavy, cancelled = cursor.fetchone()
    return {
        "orders": n,
        "product_rows": len(products),
        "summary_mb": summary_bytes / 2**20,
        "product_mb": product_bytes / 2**20,
        "seconds": time.perf_counter() - started,
        "matches": (
            f"best seller in {top}, mid seller in {mid}, slow seller in {rare},"
            f" heavy customer has {heavy}, CANCELLED {cancelled}"
        ),
    }


# --- the shapes --------------------------------------------------------------------------------


@dataclass
class Shape:
    name: str
    who: str  # "customer" or "staff"
    params: dict
    what: str
    page2_of: str | None = None  # follow this shape's `next` link instead
    urls: dict[int, str] = field(default_factory=dict)  # per size
    rows: dict[int, int] = field(default_factory=dict)
    body_bytes: dict[int, int] = field(default_factory=dict)
    queries: dict[int, list[str]] = field(default_factory=dict)
    list_sql: dict[int, str] = field(default_factory=dict)
    times: dict[int, list[float]] = field(default_factory=dict)
    sql_times: dict[int, list[float]] = field(default_factory=dict)
    exec_times: dict[int, list[float]] = field(default_factory=dict)
    buffers: dict[int, int] = field(default_factory=dict)  # shared buffers hit + read by the plan


def product_shapes(catalog: Catalog) -> list[Shape]:
    """Staff's "orders with product X" for a best, a mid and a slow seller (and the best's page 2)."""
    top, mid, rare = catalog.top_product, catalog.mid_product, catalog.rare_product
    shapes = [
        Shape(f"product_{name}", "staff", {"product": product}, f"staff, ?product={product}: {what}")
        for name, product, what in [
            ("top", top, "the best seller"),
            ("mid", mid, "a mid seller (worst case for the largest size)"),
            ("rare", rare, "a slow seller"),
        ]
    ]
    page2 = Shape("product_top_p2", "staff", {"product": top}, "the same, page 2", page2_of="product_top")
    return [shapes[0], page2, *shapes[1:]]


def make_shapes(catalog: Catalog) -> list[Shape]:
    window_end = NOW - timedelta(days=90)
    window = {
        "placed_after": (window_end - timedelta(days=30)).isoformat(),
        "placed_before": window_end.isoformat(),
    }
    return [
        Shape("customer", "customer", {}, f"customer {catalog.heavy_customer}'s own orders (their token)"),
        Shape(
            "customer_product",
            "customer",
            {"product": catalog.top_product},
            f"the same customer, ?product={catalog.top_product} (the best seller)",
        ),
        Shape("staff_all", "staff", {}, "staff, no filter: everyone's newest orders"),
        Shape(
            "staff_page2",
            "staff",
            {},
            "staff, no filter, page 2 (the `next` cursor link)",
            page2_of="staff_all",
        ),
        Shape("staff_status", "staff", {"status": "CANCELLED"}, "staff, ?status=CANCELLED (~10% of orders)"),
        Shape(
            "staff_dates", "staff", window, "staff, ?placed_after&placed_before: a 30-day window 90 days ago"
        ),
        *product_shapes(catalog),
    ]


def make_clients(catalog: Catalog) -> dict:
    """APIClients with real RS256 access tokens, made the way POST /api/auth/token/ makes them
    (shop.identity's serializer adds username and is_staff, which stateless services read)."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from shop.identity.services import access_token_for

    User = get_user_model()
    users = {
        "customer": User(
            id=catalog.heavy_customer, username=f"customer{catalog.heavy_customer}", is_staff=False
        ),
        "staff": User(id=STAFF_USER_ID, username="staff1", is_staff=True),
    }
    clients = {}
    for role, user in users.items():
        client = APIClient()
        token = access_token_for(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        clients[role] = client
    return clients


def expected_ids(shape: Shape, customer_id: int, page_size: int) -> list[int]:
    """What the shape's page must hold, by a plain query written here (not the app's): the
    check that the figures are of correct answers."""
    from django.db import connections

    from orders.read.models import OrderSummary, OrderSummaryProduct

    where, params = ["generation = 1", "customer_id IS NOT NULL"], []
    if shape.who == "customer":
        where.append("customer_id = %s")
        params.append(customer_id)
    if "status" in shape.params:
        where.append("status = %s")
        params.append(shape.params["status"])
    if "placed_after" in shape.params:
        where.append("placed_at >= %s AND placed_at < %s")
        params += [shape.params["placed_after"], shape.params["placed_before"]]
    if "product" in shape.params:
        where.append(
            f'order_id IN (SELECT order_id FROM "{OrderSummaryProduct._meta.db_table}"'
            " WHERE generation = 1 AND product_id = %s)"
        )
        params.append(shape.params["product"])
    offset = page_size if shape.page2_of else 0
    with connections[READ_ALIAS].cursor() as cursor:
        cursor.execute(
            f'SELECT order_id FROM "{OrderSummary._meta.db_table}" WHERE {" AND ".join(where)}'
            " ORDER BY placed_at DESC, order_id DESC LIMIT %s OFFSET %s",
            [*params, page_size, offset],
        )
        return [row[0] for row in cursor.fetchall()]


def prepare_shapes(shapes: list[Shape], clients: dict, size: int, customer_id: int) -> None:
    """Resolve each shape's URL at this size (page 2 = the `next` link of page 1), check it
    answers 200 with the right orders, and capture the SQL one request runs."""
    from urllib.parse import urlencode

    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from orders.api.views import NewestFirst

    by_name = {s.name: s for s in shapes}
    for shape in shapes:
        if shape.page2_of:
            first = by_name[shape.page2_of]
            body = clients[first.who].get(first.urls[size]).json()
            if not body.get("next"):
                raise RuntimeError(f"{shape.name}: page 1 of {first.name} has no next link at {size}")
            shape.urls[size] = body["next"]
        else:
            shape.urls[size] = "/api/orders/" + (f"?{urlencode(shape.params)}" if shape.params else "")
        with CaptureQueriesContext(connections[READ_ALIAS]) as captured:
            response = clients[shape.who].get(shape.urls[size])
        if response.status_code != 200:
            raise RuntimeError(f"{shape.name}: HTTP {response.status_code}: {response.content[:300]!r}")
        results = response.json()["results"]
        shape.rows[size] = len(results)
        shape.body_bytes[size] = len(response.content)
        got = [r["id"] for r in results]
        if got != expected_ids(shape, customer_id, NewestFirst.page_size):
            raise RuntimeError(f"{shape.name}: wrong orders at {size}: {got}")
        shape.queries[size] = [q["sql"] for q in captured.captured_queries]
        lists = [sql for sql in shape.queries[size] if '"orders_ordersummary"' in sql and "ORDER BY" in sql]
        if len(lists) != 1:
            raise RuntimeError(f"{shape.name}: expected one list query, got {shape.queries[size]}")
        shape.list_sql[size] = lists[0]


def run_interleaved(
    shapes: list[Shape], clients: dict, names: dict[int, str], requests: int, warmup: int
) -> None:
    """Time `requests` requests per shape per size, then the list SQL alone as often, then its
    server-side execution time; each step runs every (shape, size) once, sizes in random order."""
    from django.db import connections

    rng = random.Random(1)
    sizes = list(names)

    def steps(count: int):
        for _ in range(count):
            for shape in shapes:
                rng.shuffle(sizes)
                for size in sizes:
                    switch_database(names[size])
                    yield shape, size

    for shape, size in steps(warmup):
        clients[shape.who].get(shape.urls[size])
    for shape, size in steps(requests):
        client, url = clients[shape.who], shape.urls[size]
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{shape.name}: HTTP {response.status_code}")
        shape.times.setdefault(size, []).append(elapsed)
    for count, timed in ((warmup, False), (requests, True)):
        for shape, size in steps(count):
            with connections[READ_ALIAS].cursor() as cursor:
                started = time.perf_counter()
                cursor.execute(shape.list_sql[size])
                cursor.fetchall()
                elapsed = time.perf_counter() - started
            if timed:
                shape.sql_times.setdefault(size, []).append(elapsed)
    for shape, size in steps(requests):
        with connections[READ_ALIAS].cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, TIMING off, FORMAT JSON) " + shape.list_sql[size])
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        shape.exec_times.setdefault(size, []).append(plan[0]["Execution Time"] / 1000)


def explain(sql: str) -> list[str]:
    from django.db import connections

    with connections[READ_ALIAS].cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [row[0] for row in cursor.fetchall()]


def plan_buffers(sql: str) -> int:
    """Shared buffers (hit + read) the execution of `sql` touches: deterministic, unlike time."""
    from django.db import connections

    with connections[READ_ALIAS].cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING off, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    top = plan[0]["Plan"]
    return top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)


# --- output ------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of durations in seconds, in milliseconds."""
    return percentile(values, q) * 1000


def report(shapes: list[Shape], sizes: list[int]) -> None:
    small, large = min(sizes), max(sizes)
    header = [
        "shape", "orders", "rows", "KiB", "queries", "buffers",
        "p50 ms", "p95 ms", "p99 ms", "sql p50", "sql p95", "exec p50", "exec p95",
    ]  # fmt: skip
    rows = []
    for shape in shapes:
        for size in sizes:
            t, q, e = shape.times[size], shape.sql_times[size], shape.exec_times[size]
            rows.append(
                [
                    shape.name,
                    human(size),
                    shape.rows[size],
                    f"{shape.body_bytes[size] / 1024:.1f}",
                    len(shape.queries[size]),
                    shape.buffers[size],
                    f"{pct(t, 50):.2f}",
                    f"{pct(t, 95):.2f}",
                    f"{pct(t, 99):.2f}",
                    f"{pct(q, 50):.2f}",
                    f"{pct(q, 95):.2f}",
                    f"{pct(e, 50):.3f}",
                    f"{pct(e, 95):.3f}",
                ]
            )
    print(
        "\nGET /api/orders/ per shape. p50/p95/p99: the whole request in-process (ms); sql: the list"
        "\nquery alone, client round trip incl. fetching the rows (ms); exec: its server-side execution"
        "\ntime (EXPLAIN ANALYZE, TIMING off; ms); buffers: shared buffers the list query's plan touches;"
        "\nqueries: SQL statements per request; rows/KiB: results on the page / response body."
    )
    print(markdown_table(header, rows, right=set(range(1, len(header)))))
    if small == large:
        return
    L, S = human(large), human(small)

    def ratio(values: dict, q: float) -> str:
        return f"{pct(values[large], q) / pct(values[small], q):.2f}"

    ratio_rows = [
        [
            shape.name,
            ratio(shape.times, 95),
            ratio(shape.times, 50),
            ratio(shape.sql_times, 95),
            ratio(shape.exec_times, 95),
            ratio(shape.exec_times, 50),
            f"{shape.buffers[large] / max(1, shape.buffers[small]):.2f}",
        ]
        for shape in shapes
    ]
    print(f"\nRatios {L} / {S} (≈ 1: a page costs the same at both sizes)")
    print(
        markdown_table(
            ["shape", f"p95({L})/p95({S})", "p50", "sql p95", "exec p95", "exec p50", "buffers"],
            ratio_rows,
            right=set(range(1, 7)),
        )
    )


def main() -> int:
    args = parse_args()
    run = uuid.uuid4().hex[:8]
    names = {n: f"shop_bench_read_{run}_{n}" for n in args.sizes}
    tmp = Path(tempfile.mkdtemp(prefix="bench_read_"))
    load_before = os.getloadavg()
    with postgres.admin(args.pg_url) as admin:
        server = admin.execute("SHOW server_version").fetchone()[0]
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        configure_django(postgres.database_url(names[args.sizes[0]], args.pg_url), tmp)
        catalog = Catalog.make(args.seed, max(args.sizes))
        print(
            f"read_model_list: sizes {', '.join(map(str, args.sizes))}; {args.requests} timed requests"
            f" per shape per size, interleaved, after {args.warmup} warm-up;"
            f" Postgres {server}; {os.cpu_count()} CPUs; load average {load_before[0]:.2f}"
            f" {load_before[1]:.2f} {load_before[2]:.2f}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        )
        for n in args.sizes:
            built = build_database(names[n], n, catalog, args.seed)
            print(
                f"  built {names[n]}: {built['orders']} summaries ({built['summary_mb']:.1f} MiB with"
                f" indexes), {built['product_rows']} product rows ({built['product_mb']:.1f} MiB)"
                f" in {built['seconds']:.1f}s; orders matching: {built['matches']}"
            )
        shapes = make_shapes(catalog)
        clients = make_clients(catalog)
        for n in args.sizes:
            switch_database(names[n])
            prepare_shapes(shapes, clients, n, catalog.heavy_customer)
            for shape in shapes:
                shape.buffers[n] = plan_buffers(shape.list_sql[n])
        print("\nShapes:")
        for shape in shapes:
            print(f"  {shape.name:17} {shape.what}")
        started = time.perf_counter()
        run_interleaved(shapes, clients, names, args.requests, args.warmup)
        elapsed = time.perf_counter() - started
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nTimed in {elapsed:.0f}s; load average after {load}")

        largest = max(args.sizes)
        print(f"\nQueries of one request at {human(largest)} orders (orders_read; nothing else is touched):")
        for shape in shapes:
            print(f"  {shape.name}:")
            for sql in shape.queries[largest]:
                print(f"    {sql}")
        if not args.no_explain:
            for n in args.sizes:
                switch_database(names[n])
                print(f"\nEXPLAIN (ANALYZE, BUFFERS) of each shape's list query at {human(n)} orders:")
                for shape in shapes:
                    print(f"  -- {shape.name}")
                    for line in explain(shape.list_sql[n]):
                        print(f"     {line}")
        report(shapes, args.sizes)
    finally:
        close_all_wrappers()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep_dbs:
            with postgres.admin(args.pg_url) as admin:
                for name in names.values():
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"\ndropped {', '.join(names.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
