#!/usr/bin/env python
"""Order saga latency under a steady open-loop load, in shape 2 (separate processes, Kafka).

    .venv/bin/python -m bench.saga_latency [--rate 50] [--duration 60] [--web-workers 2]

A benchmark, not a test: it asserts nothing about timing, it prints figures. What it does:

1. starts a LocalCluster (devtools/cluster.py: fresh Postgres databases per alias cloned from a
   migrated template, a private Kafka namespace), seeds it (seed_demo), sets every active
   product's stock very high by SQL on the catalog database *before* the pipeline starts (so
   every order is confirmed, none rejected), then starts one relay_outbox, one consume_events
   per service (catalog, orders, delivery) and gunicorn (--web-workers x --web-threads); waits
   until orders' product snapshot has caught up and registers --customers customers;
2. warm-up: --warmup seconds of the same load, waited on until every warm-up order has its
   shipment (so every consumer group has joined and every connection is open); not counted;
   then --idle-seconds with the pipeline up and no load, to measure what it and the rest of
   the machine use at rest;
3. the measured run: rate x duration POST /api/orders/, each sent at its planned time
   (start + i/rate) by a pool of --client-threads threads. Open loop: a slow response does not
   delay the next request unless every thread is busy, which shows as "send lag";
4. waits (at most --settle-timeout) until every accepted order is CONFIRMED and has its
   shipment, then reads the times from the databases, not by polling the API:
     t0            client wall clock just before the POST is sent
     t_confirmed   created_at of the order's shop.orders.order_confirmed.v1 outbox row, written
                   in the transaction that flips the order to CONFIRMED (orders_order.updated_at
                   is overwritten later by SHIPPED/DELIVERED, so it is not used)
     t_shipment    created_at of the shop.delivery.shipment_created.v1 outbox row in delivery
                   (envelope data.order_id), written in the transaction that creates the shipment
   and, for a per-hop breakdown, created_at/published_at of the order_placed, stock_reserved
   and order_confirmed outbox rows and processed_at of the inbox row each consumer writes when
   it starts applying an event. created_at is taken by Python inside the transaction, a little
   before its commit; published_at right after Kafka acknowledged the relay's batch. Every
   process runs on this machine: one clock;
5. prints the configuration, latency percentiles (an order that never got there within the
   settle timeout counts as infinitely late), the per-hop breakdown, 10 s windows (a pipeline
   that cannot keep up shows as latency growing window after window), CPU and CPU run-queue
   wait per process (/proc), and what this cluster's Postgres backends were waiting on
   (pg_stat_activity sampled during the load); then stops everything, drops the databases and
   deletes the run's Kafka topics and groups.

Delivery's progression (CREATED -> DELIVERED) runs eagerly inside the delivery consumer
(SHOP_ENV=test: eager Celery ignores the countdown), so each order also produces its
picked_up/in_transit/delivered and shipped/delivered events at once: that load is part of the
run, those steps are not measured.

Experiments without editing the code: --relay-env/--consumer-env/--web-env KEY=VALUE pass
environment variables to those processes (e.g. --relay-env EVENTS_RELAY_POLL_SECONDS=0.05).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.common import PySpy, delete_topics, interpreter, process_cpu, stop_cleanly_on_sigterm
from bench.common import percentile as pct
from devtools.cluster import ROOT, LocalCluster, drop_templates
from devtools.http import Api, free_port
from devtools.services import KAFKA, PG_ADMIN_URL
from shop.topology import ALL_ALIASES

PLACED = "shop.orders.order_placed.v1"
CONFIRMED = "shop.orders.order_confirmed.v1"
RESERVED = "shop.catalog.stock_reserved.v1"
SHIPMENT_CREATED = "shop.delivery.shipment_created.v1"
SERVICES = ("catalog", "orders", "delivery")
STOCK = 10_000_000
PASSWORD = "a-long-passphrase-9"
CLK_TCK = os.sysconf("SC_CLK_TCK")
INF = float("inf")
SEND_GRACE = 5.0  # seconds a POST may be sent after the end of the planned window


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=50.0, help="orders per second offered (open loop)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    p.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    p.add_argument("--web-threads", type=int, default=4, help="gunicorn threads per worker")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of uncounted load first")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="CPU baseline at rest before the load")
    p.add_argument("--client-threads", type=int, default=32, help="threads sending the POSTs")
    p.add_argument("--customers", type=int, default=10)
    p.add_argument("--max-lines", type=int, default=3, help="lines per order: 1..max, quantity 1..3 each")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--settle-timeout", type=float, default=180.0, help="max wait for the saga to finish")
    p.add_argument("--request-timeout", type=float, default=10.0)
    for role in ("relay", "consumer", "web"):
        p.add_argument(
            f"--{role}-env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"extra environment for the {role} process(es) (repeatable)",
        )
    p.add_argument(
        "--split-read-side",
        action="store_true",
        help="run orders' two consumer groups (saga, read side) in two processes"
        " (consume_events --service orders --database orders / --database orders_read)"
        " instead of two threads of one",
    )
    p.add_argument(
        "--no-progression",
        action="store_true",
        help="CELERY_TASK_ALWAYS_EAGER=0 in the delivery consumer: the shipment steps are queued"
        " (in its memory:// broker, never run) instead of running at once, as when they come"
        " DELIVERY_STEP_SECONDS later in production",
    )
    p.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample every process of the cluster with py-spy during the measured load; collapsed"
        " stacks go to DIR/<process>.txt and the hottest functions are printed",
    )
    p.add_argument(
        "--no-shape1",
        action="store_true",
        help="skip the same orders through shape 1 (the monolith, local transport), printed as the"
        " cost of the work itself",
    )
    p.add_argument("--json", type=Path, help="also write per-order timings as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the databases and process logs")
    args = p.parse_args()
    if not (0 < args.rate * args.duration <= 100_000) or args.rate <= 0:
        p.error("need rate > 0, duration > 0 and rate*duration <= 100000")
    return args


def env_pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            raise SystemExit(f"bad KEY=VALUE: {item!r}")
        out[key] = value
    return out


# --- looking into the databases while the pipeline runs ------------------------------------------

_probes: dict[str, psycopg.Connection] = {}


def probe(cluster: LocalCluster, alias: str, query: str, params: tuple = ()) -> list[tuple]:
    """cluster.sql() on one long-lived autocommit connection per database: the waits below poll,
    and a new connection (a new Postgres backend) per poll would load the machine being measured."""
    conn = _probes.get(alias)
    if conn is None or conn.closed:
        conn = _probes[alias] = psycopg.connect(cluster.database_url(alias), autocommit=True)
    return conn.execute(query, params).fetchall()


def close_probes() -> None:
    for conn in _probes.values():
        with contextlib.suppress(Exception):
            conn.close()
    _probes.clear()


# --- CPU and run-queue accounting from /proc ----------------------------------------------------


def _pid_times(pid: int) -> tuple[int, float, float] | None:
    """(process group, CPU seconds, seconds its threads waited runnable for a CPU) of one pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        waited = 0
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            with contextlib.suppress(OSError):
                waited += int(Path(path).read_text().split()[1])
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / CLK_TCK, waited / 1e9


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _system_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (all CPUs)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


OTHERS = "rest of the machine (busy minus the above)"
CLIENT = "load client (this script)"
BROKER = "Kafka broker (java, shared)"


class CpuMeter:
    """CPU used and run-queue wait per component between start() and stop(), in cores."""

    def __init__(self, cluster: LocalCluster):
        self.cluster = cluster

    def _sample(self) -> dict:
        groups = {proc.popen.pid: name for name, proc in self.cluster.procs.items()}
        backends = {
            pid
            for (pid,) in probe(
                self.cluster,
                "orders",
                "SELECT pid FROM pg_stat_activity WHERE datname LIKE %s",
                (f"shop_{self.cluster.name}_%",),
            )
        }
        per_pid = {}
        for pid in (int(d) for d in os.listdir("/proc") if d.isdigit()):
            times = _pid_times(pid)
            if times is None:
                continue
            pgrp, cpu, waited = times
            if pgrp in groups:
                key = groups[pgrp]
            elif pid in backends:
                key = "postgres backends of this cluster"
            elif pid == os.getpid():
                key = CLIENT
            elif _comm(pid) == "java":
                key = BROKER
            else:
                continue
            per_pid[pid] = (key, cpu, waited)
        return {"per_pid": per_pid, "busy": _system_busy(), "wall": time.monotonic()}

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict:
        after = self._sample()
        wall = after["wall"] - self.before["wall"]
        cpu: dict[str, float] = defaultdict(float)
        wait: dict[str, float] = defaultdict(float)
        for pid, (key, c, w) in after["per_pid"].items():
            old = self.before["per_pid"].get(pid)
            c0, w0 = (old[1], old[2]) if old and old[0] == key else (0.0, 0.0)
            cpu[key] += (c - c0) / wall
            wait[key] += (w - w0) / wall
        busy = (after["busy"] - self.before["busy"]) / wall
        cpu[OTHERS] = max(0.0, busy - sum(cpu.values()))
        return {"wall": wall, "busy": busy, "cpu": dict(cpu), "wait": dict(wait)}


class PgWaits(threading.Thread):
    """Samples what this cluster's active Postgres backends are doing (pg_stat_activity)."""

    def __init__(self, cluster: LocalCluster, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pattern = f"shop_{cluster.name}_%"
        self.interval = interval
        self.samples = 0
        self.counts: Counter[str] = Counter()
        self.halt = threading.Event()

    def run(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            while not self.halt.is_set():
                rows = conn.execute(
                    "SELECT CASE WHEN a.wait_event_type = 'Lock' AND EXISTS (SELECT 1 FROM pg_locks l"
                    "  WHERE l.pid = a.pid AND NOT l.granted AND l.locktype = 'object'"
                    "  AND l.classid = 'pg_database'::regclass AND l.objid = 0)"
                    " THEN 'Lock:object = the NOTIFY queue lock (each publishing commit holds it)'"
                    " ELSE coalesce(a.wait_event_type || ':' || a.wait_event, 'on CPU (or runnable)') END"
                    " FROM pg_stat_activity a WHERE a.datname LIKE %s AND a.state = 'active'"
                    " AND a.pid <> pg_backend_pid()",
                    (self.pattern,),
                ).fetchall()
                self.samples += 1
                self.counts.update(r[0] for r in rows)
                self.halt.wait(self.interval)


# --- the load ---------------------------------------------------------------------------------------


class OpenLoop:
    """POST the bodies at start + i/rate from `threads` threads, each timing its own request."""

    def __init__(
        self,
        customers: list[Api],
        bodies: list[tuple[int, dict]],
        *,
        rate: float,
        threads: int,
        timeout: float,
    ):
        self.customers, self.bodies, self.rate = customers, bodies, rate
        self.threads, self.timeout = threads, timeout
        self.results: list[dict | None] = [None] * len(bodies)
        self._next = 0
        self._lock = threading.Lock()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= len(self.bodies):
                return None
            self._next += 1
            return self._next - 1

    def _worker(self, start: float, last_send: float) -> None:
        while (i := self._take()) is not None:
            planned = start + i / self.rate
            if (delay := planned - time.perf_counter()) > 0:
                time.sleep(delay)
            if time.perf_counter() > last_send:
                continue  # the load window is over: what every busy thread kept back is not sent
            who, body = self.bodies[i]
            t0_wall, t0 = time.time(), time.perf_counter()
            order_id = error = status = None
            try:
                status, resp = self.customers[who].request("POST", "/api/orders/", body, timeout=self.timeout)
                if status == 201 and isinstance(resp, dict):
                    order_id = resp["id"]
                else:
                    error = f"HTTP {status}: {str(resp)[:160]}"
            except Exception as exc:  # timeouts, refused connections: counted, never retried
                error = f"{type(exc).__name__}: {exc}"
            self.results[i] = {
                "t0": t0_wall,
                "send_lag": t0 - planned,
                "http": time.perf_counter() - t0,
                "status": status,
                "order_id": order_id,
                "error": error,
            }

    def run(self) -> None:
        start = time.perf_counter() + 0.2
        # Bounded in time: nothing is sent later than SEND_GRACE after the planned window, and
        # every request has its own timeout; the stragglers get that plus a margin.
        last_send = start + len(self.bodies) / self.rate + SEND_GRACE
        workers = [
            threading.Thread(target=self._worker, args=(start, last_send), daemon=True)
            for _ in range(self.threads)
        ]
        for w in workers:
            w.start()
        deadline = last_send + self.timeout + 30
        for w in workers:
            w.join(max(0.0, deadline - time.perf_counter()))


# --- reading the saga's times from the databases ------------------------------------------------------


def _ts(value) -> float | None:
    return value.timestamp() if value is not None else None


def collect(cluster: LocalCluster, order_ids: list[int]) -> dict[int, dict]:
    """Per order: created/published of its outbox rows along the saga, and when each consumer
    started applying the event that moved it on (inbox processed_at)."""
    rows: dict[int, dict] = {o: {} for o in order_ids}
    by_key = "key::bigint, event_id, created_at, published_at FROM events_outboxevent WHERE type = %s"
    by_data = (
        "(envelope->'data'->>'order_id')::bigint, event_id, created_at, published_at"
        " FROM events_outboxevent WHERE type = %s"
    )
    for alias, select, event_type, name in (
        ("orders", by_key, PLACED, "placed"),
        ("catalog", by_data, RESERVED, "reserved"),
        ("orders", by_key, CONFIRMED, "confirmed"),
        ("delivery", by_data, SHIPMENT_CREATED, "shipment"),
    ):
        for order_id, event_id, created, published in cluster.sql(alias, "SELECT " + select, (event_type,)):
            if order_id in rows:
                rows[order_id][name] = {
                    "event_id": str(event_id),
                    "created": _ts(created),
                    "published": _ts(published),
                }
    started: dict[tuple[str, str], float] = {}
    for alias in SERVICES:
        for event_id, processed in cluster.sql(
            alias,
            "SELECT event_id, min(processed_at) FROM events_inboxentry"
            " WHERE type = ANY(%s) GROUP BY event_id",
            ([PLACED, RESERVED, CONFIRMED],),
        ):
            started[(alias, str(event_id))] = _ts(processed)
    for r in rows.values():
        for event, alias, name in (
            ("placed", "catalog", "catalog_in"),
            ("reserved", "orders", "orders_in"),
            ("confirmed", "delivery", "delivery_in"),
        ):
            if event in r:
                r[name] = started.get((alias, r[event]["event_id"]))
    return rows


def wait_settled(cluster: LocalCluster, order_ids: list[int], timeout: float) -> float:
    """Wait until every order has its order_confirmed event and its shipment (or is REJECTED);
    returns how long that took (inf on timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        confirmed = probe(
            cluster,
            "orders",
            "SELECT count(*) FROM events_outboxevent WHERE type = %s AND key::bigint = ANY(%s)",
            (CONFIRMED, order_ids),
        )[0][0]
        rejected = probe(
            cluster,
            "orders",
            "SELECT count(*) FROM orders_order WHERE status = 'REJECTED' AND id = ANY(%s)",
            (order_ids,),
        )[0][0]
        shipped = probe(
            cluster,
            "delivery",
            "SELECT count(*) FROM delivery_shipment WHERE order_id = ANY(%s)",
            (order_ids,),
        )[0][0]
        if confirmed + rejected >= len(order_ids) and shipped >= confirmed:
            return time.monotonic() - started
        time.sleep(0.5)
    return INF


class GroupLag:
    """How many records this cluster's consumer groups have not committed yet: whether the
    consumers are done, which the databases alone cannot tell (records a starved consumer has
    not fetched yet change no table). One admin client and one consumer for the whole run."""

    def __init__(self, cluster: LocalCluster):
        self.prefix = f"{cluster.name}."
        self.groups = [
            *(f"{cluster.name}.shop.{s}" for s in SERVICES),
            f"{cluster.name}.shop.orders.orders_read",
        ]
        self._admin = self._consumer = None

    def behind(self) -> int:
        from kafka import KafkaAdminClient, KafkaConsumer

        if self._admin is None:
            self._admin = KafkaAdminClient(bootstrap_servers=KAFKA, request_timeout_ms=5000)
            self._consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=None, enable_auto_commit=False)
        committed = {}
        for group in self.groups:
            offsets = self._admin.list_consumer_group_offsets(group)
            committed[group] = {tp: o.offset for tp, o in offsets.items() if tp.topic.startswith(self.prefix)}
        ends = self._consumer.end_offsets(sorted({tp for c in committed.values() for tp in c}))
        return sum(max(0, ends[tp] - offset) for c in committed.values() for tp, offset in c.items())

    def close(self) -> None:
        for client in (self._admin, self._consumer):
            with contextlib.suppress(Exception):
                if client is not None:
                    client.close()


def wait_quiet(cluster: LocalCluster, timeout: float, lag: GroupLag, still: float = 2.0) -> float:
    """Wait until the whole pipeline is at rest: every outbox published, every consumer group's
    offsets committed up to the end of its partitions, and no inbox in any database (read side
    included) growing for `still` seconds. Returns how long that took (inf on timeout)."""
    started = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() - started < timeout:
        state = []
        for alias in ALL_ALIASES:
            (pending, applied), *_ = probe(
                cluster,
                alias,
                "SELECT (SELECT count(*) FROM events_outboxevent WHERE published_at IS NULL),"
                " (SELECT count(*) FROM events_inboxentry)",
            )
            state.append((pending, applied))
        if state != last or any(pending for pending, _ in state) or lag.behind():
            last, since = state, time.monotonic()
        elif time.monotonic() - since >= still:
            return since - started
        time.sleep(0.5)
    return INF


# --- statistics ---------------------------------------------------------------------------------------


def fmt(v: float, width: int = 8) -> str:
    return f"{'inf':>{width}}" if math.isinf(v) else f"{v:{width}.1f}"


def summary(seconds: list[float]) -> str:
    if not seconds:
        return "n/a"
    ms = [v * 1000 for v in seconds]
    finite = [v for v in ms if not math.isinf(v)]
    late = len(ms) - len(finite)
    return (
        f"p50 {fmt(pct(ms, 50))}  p95 {fmt(pct(ms, 95))}  p99 {fmt(pct(ms, 99))}  max {fmt(max(ms))}"
        f"  (n={len(ms)}" + (f", {late} not there within the settle timeout = inf)" if late else ")")
    )


# (label, from, to): two moments of one order, "t0" (the client's send time) or "<row>.<column>"
# or "<row>" of what collect() read from the databases. A missing "to" makes the whole-saga rows
# infinite (the order never got there), the hop rows just absent.
HOPS = [
    ("web: POST sent -> order_placed written", "t0", "placed.created"),
    ("relay: order_placed written -> acked by Kafka", "placed.created", "placed.published"),
    ("Kafka + wait: acked -> catalog handler starts", "placed.published", "catalog_in"),
    ("catalog handler -> stock_reserved written", "catalog_in", "reserved.created"),
    ("relay: stock_reserved written -> acked", "reserved.created", "reserved.published"),
    ("Kafka + wait: acked -> orders handler starts", "reserved.published", "orders_in"),
    ("orders handler -> order_confirmed written", "orders_in", "confirmed.created"),
    ("= POST -> CONFIRMED", "t0", "confirmed.created"),
    ("relay: order_confirmed written -> acked", "confirmed.created", "confirmed.published"),
    ("Kafka + wait: acked -> delivery handler starts", "confirmed.published", "delivery_in"),
    ("delivery handler -> shipment_created written", "delivery_in", "shipment.created"),
    ("= POST -> shipment created", "t0", "shipment.created"),
]
CONFIRMED_HOP, SHIPMENT_HOP = 7, 11


def moment(point: str, request: dict, row: dict) -> float | None:
    """The time of one HOPS point for one order (KeyError/TypeError if it never happened)."""
    if point == "t0":
        return request["t0"]
    name, _, column = point.partition(".")
    return row[name][column] if column else row[name]


def hop_values(requests: list[dict], rows: dict[int, dict]) -> list[list[float | None]]:
    out = []
    for n, (_, a, b) in enumerate(HOPS):
        values: list[float | None] = []
        for q in requests:
            r = rows.get(q["order_id"], {})
            try:
                start, end = moment(a, q, r), moment(b, q, r)
            except (KeyError, TypeError):
                start = end = None
            if start is not None and end is not None:
                values.append(end - start)
            else:
                values.append(INF if n in (CONFIRMED_HOP, SHIPMENT_HOP) else None)
        out.append(values)
    return out


def pipeline_settings(cluster: LocalCluster, extra: dict[str, str]) -> dict:
    """The effective relay/consumer settings, as the code reads them in the relay's environment."""
    code = (
        "import json; from django.conf import settings as s;"
        "from events.settings import events_settings as e;"
        "from events.transports.kafka.producer import producer_config;"
        "from events.transports.kafka.consumer import consumer_config;"
        "p = producer_config(['x']); c = consumer_config('orders');"
        "print(json.dumps({'poll': e.RELAY_POLL_SECONDS, 'batch': e.RELAY_BATCH_SIZE,"
        " 'aliases': e.served_databases(), 'linger_ms': p['linger_ms'], 'acks': p['acks'],"
        " 'fetch_max_wait_ms': c['fetch_max_wait_ms'], 'max_poll_records': c['max_poll_records'],"
        " 'eager': s.CELERY_TASK_ALWAYS_EAGER, 'debug': s.DEBUG}))"
    )
    return json.loads(cluster.manage("shell", "-c", code, **extra).stdout.strip().splitlines()[-1])


def code_version() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()
        return f"{head}" + (f" + {len(dirty)} uncommitted file(s)" if dirty else "")
    except Exception:
        return "unknown"


# --- main -----------------------------------------------------------------------------------------


def register_customers(api: Api, count: int) -> list[Api]:
    """Sign up `count` customers (bench0, bench1, ...); a logged-in client for each."""
    clients = []
    for i in range(count):
        status, body = api.post(
            "/api/auth/register/",
            {"username": f"bench{i}", "email": f"bench{i}@example.com", "password": PASSWORD},
        )
        assert status == 201, body
        clients.append(api.login(f"bench{i}", PASSWORD))
    return clients


def order_bodies(
    rng: random.Random, customers: int, products: list[int], max_lines: int, count: int
) -> list[tuple[int, dict]]:
    """`count` (customer index, POST body) pairs: 1..max_lines random products, quantity 1-3."""
    return [
        (
            rng.randrange(customers),
            {
                "lines": [
                    {"product_id": p, "quantity": rng.randint(1, 3)}
                    for p in rng.sample(products, k=rng.randint(1, min(max_lines, len(products))))
                ],
                "shipping_address": "221B Baker Street, London",
            },
        )
        for _ in range(count)
    ]


def run_shape1(args, n: int, *, customers: int) -> dict | None:
    """The same load through shape 1 (devtools.migration.Monolith: `manage.py runserver` with the
    relay and a Celery worker inside, SQLite per app, local transport), DEBUG off: its one
    process's CPU per order (from /proc, its idle rate subtracted), from the first POST until
    every order is CONFIRMED with its shipment recorded. None (and why, printed) if it failed."""
    from devtools.migration import Monolith

    workdir = Path(tempfile.mkdtemp(prefix="saga_latency_shape1_"))
    # Progression off: the steps would come DELIVERY_STEP_SECONDS later, outside the measurement.
    monolith = Monolith(workdir, step_seconds=3600 if args.no_progression else 0)
    try:
        monolith.prepare(PASSWORD)
        with sqlite3.connect(monolith.data_dir / "catalog.sqlite3") as db:
            db.execute("UPDATE catalog_product SET stock = ? WHERE active", (STOCK,))
            products = [p for (p,) in db.execute("SELECT id FROM catalog_product WHERE active ORDER BY id")]
        proc = monolith.start(DJANGO_DEBUG="0", SHOP_THROTTLE_RATES="auth.register.ip=off,auth.token.ip=off")
        api = Api(monolith.url)
        clients = register_customers(api, customers)
        bodies = order_bodies(random.Random(args.seed), len(clients), products, args.max_lines, n)
        pid = proc.popen.pid
        time.sleep(1.0)
        c0, t0 = process_cpu(pid), time.monotonic()
        time.sleep(args.idle_seconds)
        c1, t1 = process_cpu(pid), time.monotonic()
        idle = (c1 - c0) / (t1 - t0)
        loop = OpenLoop(
            clients, bodies, rate=args.rate, threads=args.client_threads, timeout=args.request_timeout
        )
        loop.run()
        ids = [r["order_id"] for r in loop.results if r and r["order_id"]]
        done = time.monotonic()
        orders_db = monolith.data_dir / "orders.sqlite3"
        while time.monotonic() - done < args.settle_timeout:
            with sqlite3.connect(orders_db) as db:
                marks = ",".join("?" * len(ids))
                (settled,) = db.execute(
                    f"SELECT count(*) FROM orders_order WHERE id IN ({marks}) AND (status = 'REJECTED'"
                    " OR (status IN ('CONFIRMED', 'SHIPPED', 'DELIVERED') AND shipment_id IS NOT NULL))",
                    ids,
                ).fetchone()
            if settled >= len(ids):
                break
            time.sleep(0.2)
        else:
            print(f"shape 1: {len(ids) - settled} orders did not settle in {args.settle_timeout:g} s")
            return None
        c2, t2 = process_cpu(pid), time.monotonic()
        busy = (c2 - c1) - idle * (t2 - t1)
        return {
            "orders": len(ids),
            "per_order_ms": 1000 * busy / max(1, len(ids)),
            "settle_s": t2 - done,
            "idle": idle,
        }
    except Exception as exc:
        print(f"shape 1 could not be measured: {type(exc).__name__}: {exc}")
        return None
    finally:
        monolith.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    args = parse_args()
    interpreter()  # its speed, measured before the load; printed with the figures
    envs = {role: env_pairs(getattr(args, f"{role}_env")) for role in ("relay", "consumer", "web")}
    workdir = Path(tempfile.mkdtemp(prefix="saga_latency_"))
    cluster = LocalCluster(workdir)

    stop_cleanly_on_sigterm()
    try:
        return run(args, cluster, envs)
    except Exception:
        print("--- the cluster's logs ---\n" + cluster.logs(), file=sys.stderr)
        raise
    finally:
        close_probes()
        if args.keep:
            cluster.stop_all()
            print(f"\nkept: databases shop_{cluster.name}_*, logs in {workdir}")
        else:
            cluster.destroy()
            shutil.rmtree(workdir, ignore_errors=True)
        drop_templates()
        delete_kafka_namespace(cluster.name)


def delete_kafka_namespace(name: str) -> None:
    """Remove this run's consumer groups and topics (best effort; the broker is shared)."""
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=KAFKA, request_timeout_ms=5000)
        try:
            topics = [t for t in admin.list_topics() if t.startswith(f"{name}.")]
        finally:
            admin.close()
        groups = [*(f"{name}.shop.{s}" for s in SERVICES), f"{name}.shop.orders.orders_read"]
        delete_topics(KAFKA, topics, groups=groups)
    except Exception as exc:
        print(f"(could not delete the Kafka topics of {name}: {exc})")


def start_cluster(args, cluster: LocalCluster, envs: dict) -> tuple[Api, list[int]]:
    cluster.create()
    cluster.manage("seed_demo")
    with psycopg.connect(cluster.database_url("catalog"), autocommit=True) as conn:
        conn.execute("UPDATE catalog_product SET stock = %s WHERE active", (STOCK,))
    products = [
        p for (p,) in cluster.sql("catalog", "SELECT id FROM catalog_product WHERE active ORDER BY id")
    ]
    cluster.start_relay(**envs["relay"])
    for service in SERVICES:
        env = dict(envs["consumer"])
        if service == "delivery" and args.no_progression:
            env["CELERY_TASK_ALWAYS_EAGER"] = "0"
        if service == "orders" and args.split_read_side:
            for name, alias in (("consumer-orders", "orders"), ("consumer-orders-read", "orders_read")):
                cluster.start_consumer("orders", name, databases=[alias], **env)
        else:
            cluster.start_consumer(service, **env)
    port = free_port()
    # One client address signs up every customer: the sign-up limit per address is not measured.
    web_env = {"SHOP_THROTTLE_RATES": "auth.register.ip=off,auth.token.ip=off", **envs["web"]}
    cluster.start_web(port, args.web_workers, threads=args.web_threads, **web_env)
    total = cluster.sql("catalog", "SELECT count(*) FROM catalog_product")[0][0]
    cluster.wait_until(
        lambda: cluster.sql("orders", "SELECT count(*) FROM orders_productsnapshot")[0][0] >= total,
        what="the product snapshot to catch up",
        timeout=120,
    )
    return Api(f"http://127.0.0.1:{port}"), products


def run(args, cluster: LocalCluster, envs: dict) -> int:
    t_setup = time.monotonic()
    api, products = start_cluster(args, cluster, envs)
    config = pipeline_settings(cluster, envs["relay"])
    customers = register_customers(api, args.customers)
    rng = random.Random(args.seed)

    def bodies(count: int) -> list[tuple[int, dict]]:
        return order_bodies(rng, len(customers), products, args.max_lines, count)

    def load(count: int) -> OpenLoop:
        loop = OpenLoop(
            customers,
            bodies(count),
            rate=args.rate,
            threads=args.client_threads,
            timeout=args.request_timeout,
        )
        loop.run()
        return loop

    setup_s = time.monotonic() - t_setup
    warm_ids: list[int] = []
    if args.warmup > 0:
        warm_ids = [
            r["order_id"] for r in load(max(1, int(args.rate * args.warmup))).results if r and r["order_id"]
        ]
        if math.isinf(wait_settled(cluster, warm_ids, args.settle_timeout)):
            print("the warm-up orders never settled\n" + cluster.logs())
            return 1
    # Start from rest: the warm-up's whole aftermath (projections, delivery progression) applied.
    lag = GroupLag(cluster)
    wait_quiet(cluster, args.settle_timeout, lag)
    meter = CpuMeter(cluster)
    meter.start()
    time.sleep(args.idle_seconds)
    idle = meter.stop()
    loadavg = os.getloadavg()[0]

    n = round(args.rate * args.duration)
    waits = PgWaits(cluster)
    waits.start()
    meter.start()
    whole = CpuMeter(cluster)  # the load and its aftermath, until the pipeline is at rest again
    whole.start()
    spy = PySpy(args.py_spy) if args.py_spy else None
    if spy:
        spy.start({name: proc.popen.pid for name, proc in cluster.procs.items()})
    loop = load(n)
    cpu = meter.stop()
    if spy:
        spy.stop()
    waits.halt.set()
    results = [r for r in loop.results if r is not None]
    ok = [r for r in results if r["order_id"] is not None]
    errors = [r for r in results if r["order_id"] is None]
    order_ids = [r["order_id"] for r in ok]
    settle_s = wait_settled(cluster, order_ids, args.settle_timeout) if order_ids else 0.0
    quiet_s = wait_quiet(cluster, args.settle_timeout, lag) if not math.isinf(settle_s) else INF
    lag.close()
    total = whole.stop()
    rows = collect(cluster, order_ids)
    statuses = dict(
        cluster.sql(
            "orders",
            "SELECT status, count(*) FROM orders_order WHERE id = ANY(%s) GROUP BY status",
            (order_ids,),
        )
    )
    dead = [name for name, proc in cluster.procs.items() if not proc.alive()]
    # The same orders (same seed, rate and count) through shape 1: what the work itself costs.
    shape1 = None if args.no_shape1 else run_shape1(args, n, customers=args.customers)

    # --- report ---
    sends = sorted(r["t0"] for r in results)
    span = sends[-1] - sends[0] if len(sends) > 1 else float("nan")
    lags = [r["send_lag"] * 1000 for r in results]
    vals = hop_values(ok, rows)
    p = print
    p("saga_latency: POST /api/orders/ -> CONFIRMED -> shipment created, shape 2 (LocalCluster, Kafka)")
    p(f"date        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; code {code_version()}")
    p(
        f"machine     {os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}, load average before"
        f" the load {loadavg:.2f} (see 'rest of the machine' below)"
    )
    p(f"python      {interpreter()}")
    p(f"command     .venv/bin/python -m bench.saga_latency {' '.join(sys.argv[1:])}")
    p(
        f"load        open loop, {args.rate:g} orders/s x {args.duration:g} s = {n} POSTs"
        f" from {args.client_threads} threads; 1-{args.max_lines} lines/order, {args.customers} customers;"
        f" {args.warmup:g} s warm-up ({len(warm_ids)} orders, not counted)"
    )
    p(
        f"web         gunicorn {args.web_workers} workers x {args.web_threads} threads"
        + (f"; env {envs['web']}" if envs["web"] else "")
    )
    p(
        f"relay       1 process for {', '.join(config['aliases'])}; LISTEN/NOTIFY wake-up + poll every"
        f" {config['poll']:g} s; batch {config['batch']}; producer linger_ms {config['linger_ms']},"
        f" acks={config['acks']}" + (f"; env {envs['relay']}" if envs["relay"] else "")
    )
    p(
        f"consumers   1 process per service ({', '.join(SERVICES)});"
        f" fetch_max_wait_ms {config['fetch_max_wait_ms']},"
        f" max_poll_records {config['max_poll_records']}; Celery eager {config['eager']}"
        + (f"; env {envs['consumer']}" if envs["consumer"] else "")
        + ("; orders read side in its own process" if args.split_read_side else "")
        + ("; delivery progression off (not eager)" if args.no_progression else "")
    )
    p(
        f"setup       {setup_s:.0f} s; after the last response the saga needed "
        + (
            f"{settle_s:.1f} s more to finish"
            if not math.isinf(settle_s)
            else f"more than the {args.settle_timeout:g} s settle timeout: it had not finished"
        )
    )
    if dead:
        p(f"!! processes died: {dead}")
    p()
    p(
        f"requests        {len(results)} sent, {len(ok)} accepted (201), {len(errors)} errors,"
        f" {n - len(results)} not sent (every client thread busy until {SEND_GRACE:g} s after the window);"
        f" orders now {statuses}"
    )
    p(f"achieved rate   {(len(sends) - 1) / span:.2f} POST/s over {span:.1f} s (offered {args.rate:g}/s)")
    p(
        f"send lag        p50 {pct(lags, 50):.1f}  p99 {pct(lags, 99):.1f}  max {max(lags):.1f} ms"
        " behind plan (all client threads busy)"
    )
    p(f"HTTP POST       {summary([r['http'] for r in results])}")
    for error, count in Counter(r["error"][:120] for r in errors).most_common(5):
        p(f"  error x{count}: {error}")
    p(f"POST->CONFIRMED {summary(vals[CONFIRMED_HOP])}")
    p(f"POST->shipment  {summary(vals[SHIPMENT_HOP])}")
    p99 = pct(vals[CONFIRMED_HOP], 99) * 1000 if ok else INF
    verdict = "MET" if p99 <= 100 else "MISSED"
    p(f"target          p99 POST->CONFIRMED <= 100 ms: {verdict} ({fmt(p99, 1).strip()} ms)")
    p()
    confirmed = vals[CONFIRMED_HOP]
    finite = sorted(v for v in confirmed if not math.isinf(v))
    slow = {i for i, v in enumerate(confirmed) if finite and v >= pct(finite, 99)}
    p(f"{'per hop, ms':48}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'mean':>8}  mean of slowest 1%")
    for (label, _, _), values in zip(HOPS, vals, strict=True):
        ms = [v * 1000 for v in values if v is not None and not math.isinf(v)]
        tail = [values[i] * 1000 for i in slow if values[i] is not None and not math.isinf(values[i])]
        if ms:
            p(
                f"  {label:46}{fmt(pct(ms, 50))}{fmt(pct(ms, 95))}{fmt(pct(ms, 99))}{fmt(max(ms))}"
                f"{fmt(statistics.fmean(ms))}  {fmt(statistics.fmean(tail)) if tail else '     n/a'}"
            )
    p()
    p(
        f"{'10 s windows (by POST time)':30}{'POSTs':>6}{'HTTP p99':>10}{'CONFIRMED p50':>15}{'p99':>9}"
        f"{'shipment p50':>14}{'p99':>9}"
    )
    first = min(r["t0"] for r in ok) if ok else 0.0
    windows: dict[int, list[int]] = defaultdict(list)
    for i, q in enumerate(ok):
        windows[int((q["t0"] - first) // 10)].append(i)
    for w, idx in sorted(windows.items()):
        c = [vals[CONFIRMED_HOP][i] * 1000 for i in idx]
        s = [vals[SHIPMENT_HOP][i] * 1000 for i in idx]
        h = [ok[i]["http"] * 1000 for i in idx]
        p(
            f"  {w * 10:4d}-{w * 10 + 10:<4d} s{'':18}{len(idx):6d}{fmt(pct(h, 99), 10)}{fmt(pct(c, 50), 15)}"
            f"{fmt(pct(c, 99), 9)}{fmt(pct(s, 50), 14)}{fmt(pct(s, 99), 9)}"
        )
    p()
    p(
        f"CPU, in cores of {os.cpu_count()}: 'idle' = {idle['wall']:.0f} s at rest before the load, 'load' ="
        f" the {cpu['wall']:.0f} s of the run; 'runq' = threads waiting for a CPU (cores' worth)"
    )
    p(f"  {'':44}{'idle':>6}{'load':>7}{'runq':>7}")
    p(f"  {'whole machine busy':44}{idle['busy']:6.2f}{cpu['busy']:7.2f}")
    keys = sorted(set(cpu["cpu"]) | set(idle["cpu"]), key=lambda k: (k == OTHERS, -cpu["cpu"].get(k, 0)))
    for key in keys:
        runq = f"{cpu['wait'][key]:7.2f}" if key in cpu["wait"] else ""
        p(f"  {key:44}{idle['cpu'].get(key, 0.0):6.2f}{cpu['cpu'].get(key, 0.0):7.2f}{runq}")
    at_rest = ", ".join(f"{name} {100 * idle['cpu'].get(name, 0.0):.2f}" for name in sorted(cluster.procs))
    p(f"at rest ('idle' above), % of one core: {at_rest}")
    if not math.isinf(quiet_s) and ok:
        p()
        p(
            f"CPU per order, ms: everything the {len(ok)} orders caused, from the first POST until the"
            f" pipeline was at rest again ({total['wall']:.0f} s), minus the idle rate over that time"
        )
        p("  (what caps the rate: 2 cores give 2000 ms of CPU per second)")
        per_order = {}
        for key, cores in total["cpu"].items():
            if key not in (OTHERS, CLIENT, BROKER):
                per_order[key] = (cores - idle["cpu"].get(key, 0.0)) * total["wall"] / len(ok) * 1000
        for key, ms in sorted(per_order.items(), key=lambda kv: -kv[1]):
            if abs(ms) >= 0.05:
                p(f"  {key:44}{ms:7.1f}")
        p(f"  {'= this cluster, per order':44}{sum(per_order.values()):7.1f}")
        client = (
            (total["cpu"].get(CLIENT, 0.0) - idle["cpu"].get(CLIENT, 0.0)) * total["wall"] / len(ok) * 1000
        )
        broker = (
            (total["cpu"].get(BROKER, 0.0) - idle["cpu"].get(BROKER, 0.0)) * total["wall"] / len(ok) * 1000
        )
        p(f"  (not counted: {CLIENT} {client:.1f}; the shared Kafka broker {broker:.1f})")
        if shape1:
            p(
                f"  shape 1, the same {shape1['orders']} orders at {args.rate:g}/s through the monolith"
                f" (one process: runserver, SQLite, local transport, DEBUG off), per order:"
                f" {shape1['per_order_ms']:.1f}"
            )
            p(
                f"  shape 2 / shape 1: {sum(per_order.values()) / shape1['per_order_ms']:.1f}x"
                f" (shape 1 settled {shape1['settle_s']:.1f} s after its last response;"
                f" at rest it uses {100 * shape1['idle']:.2f}% of a core)"
            )
    if waits.samples:
        p()
        p(f"Postgres: this cluster's active backends during the load, on average ({waits.samples} samples):")
        for event, count in waits.counts.most_common(8):
            p(f"  {count / waits.samples:6.2f}  {event}")
    if spy:
        p()
        p("py-spy, during the load (sampling costs CPU too: compare CPU figures of runs without it)")
        p(spy.report())
    if args.json:
        args.json.write_text(json.dumps({"requests": results, "rows": {str(k): v for k, v in rows.items()}}))
        p(f"\nper-order timings: {args.json}")
    return 0 if not errors and len(results) == n else 2


if __name__ == "__main__":
    sys.exit(main())
