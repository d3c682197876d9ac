#!/usr/bin/env python
"""The web's cost of one `POST /api/orders/`, alone: one gunicorn worker, one client, closed loop.

    .venv/bin/python -m bench.order_post [--requests 500] [--warmup 50] [--threads 1]
        [--new-connection] [--rate R] [--py-spy DIR]

A benchmark, not a test: it prints figures. What it does:

1. a LocalCluster (devtools/cluster.py: fresh Postgres databases cloned from a migrated template),
   seeded (`seed_demo`, its events applied in-process with the local transport, so orders has its
   product snapshot) — no relay, no consumer, no broker: only the web's own work is measured;
2. gunicorn with ONE worker (`--threads` threads, gthread as in production), one customer;
3. --warmup POSTs, then --requests POSTs one after the other on one keep-alive connection (as a
   gateway's upstream connection carries them), each with 1-3 lines; with --new-connection each
   on a connection of its own, and with --rate R after an idle pause of 1/R s (saga_latency's
   client at R orders/s: a worker woken from idle for each request costs more per request);
4. prints the CPU the worker process used per POST (user + system, all its threads, from /proc:
   the figure least moved by other load on the machine), the CPU of this cluster's Postgres
   backends per POST, and the wall time per request (which other load does move).

With --py-spy DIR, py-spy samples the worker during the timed requests (GIL holder only) and
the hottest functions are printed (sampling costs CPU: take the CPU figure from a run without).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.common import PySpy, interpreter, process_cpu
from bench.common import percentile as pct
from devtools.cluster import LocalCluster, drop_templates
from devtools.http import Api, free_port
from devtools.services import PG_ADMIN_URL

PASSWORD = "a-long-passphrase-9"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=500, help="timed POSTs")
    p.add_argument(
        "--rounds", type=int, default=5, help="the timed POSTs in this many rounds, each measured on its own"
    )
    p.add_argument("--warmup", type=int, default=50, help="POSTs first, not timed")
    p.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads of the one worker (gthread, as deployed)"
    )
    p.add_argument(
        "--new-connection",
        action="store_true",
        help="each POST on a new connection, closed after it (as saga_latency's client sends them)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=0,
        help="pause 1/RATE s before each POST (0: back to back); idle gaps as in saga_latency's load",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--web-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--py-spy", type=Path, metavar="DIR", help="sample the worker with py-spy")
    return p.parse_args()


def worker_pid(master: int) -> int:
    """The one gunicorn worker: the master's child."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise SystemExit(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def backends_cpu(pattern: str) -> float:
    """CPU seconds of the Postgres backends connected to databases named like `pattern`."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname LIKE %s AND pid <> pg_backend_pid()",
                (pattern,),
            )
        ]
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu(pid)
        except OSError:
            pass
    return total


def main() -> int:
    args = parse_args()
    interpreter()  # its speed, measured before the load; printed with the figures
    env = dict(item.split("=", 1) for item in args.web_env)
    workdir = Path(tempfile.mkdtemp(prefix="order_post_"))
    cluster = LocalCluster(workdir)
    try:
        cluster.create()
        cluster.manage("seed_demo", EVENTS_TRANSPORT="local")
        port = free_port()
        web = cluster.start_web(
            port,
            1,
            threads=args.threads,
            SHOP_THROTTLE_RATES="auth.register.ip=off,auth.token.ip=off",
            **env,
        )
        api = Api(f"http://127.0.0.1:{port}")
        status, body = api.post(
            "/api/auth/register/", {"username": "bench", "email": "bench@example.com", "password": PASSWORD}
        )
        assert status == 201, body
        token = api.login("bench", PASSWORD).token
        products = [
            p
            for (p,) in cluster.sql(
                "orders", "SELECT product_id FROM orders_productsnapshot WHERE active ORDER BY 1"
            )
        ]
        rng = random.Random(args.seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        if args.new_connection:
            headers["Connection"] = "close"

        def post() -> float:
            if args.rate:
                time.sleep(1 / args.rate)
            body = {
                "lines": [
                    {"product_id": p, "quantity": rng.randint(1, 3)}
                    for p in rng.sample(products, k=rng.randint(1, 3))
                ],
                "shipping_address": "221B Baker Street, London",
            }
            started = time.perf_counter()
            conn.request("POST", "/api/orders/", json.dumps(body), headers)
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            if args.new_connection:
                conn.close()  # the next request() connects again
            if response.status != 201:
                raise SystemExit(f"POST answered {response.status}: {payload[:300]!r}")
            return elapsed

        for _ in range(args.warmup):
            post()
        worker = worker_pid(web.popen.pid)
        pattern = f"shop_{cluster.name}_%"
        loadavg = os.getloadavg()
        spy = PySpy(args.py_spy) if args.py_spy else None
        if spy:
            spy.start({"web-worker": worker})
        walls: list[float] = []
        rounds = []  # (web CPU per POST, Postgres CPU per POST) of each round
        per_round = max(1, args.requests // args.rounds)
        t0 = time.perf_counter()
        for _ in range(args.rounds):
            cpu0, pg0 = process_cpu(worker), backends_cpu(pattern)
            walls += [post() for _ in range(per_round)]
            cpu1, pg1 = process_cpu(worker), backends_cpu(pattern)
            rounds.append(((cpu1 - cpu0) / per_round, (pg1 - pg0) / per_round))
        t1 = time.perf_counter()
        if spy:
            spy.stop()
        conn.close()

        n = len(walls)
        ms = [w * 1000 for w in walls]
        web = sorted(r[0] * 1000 for r in rounds)
        pg = sorted(r[1] * 1000 for r in rounds)
        connections = "a new connection each" if args.new_connection else "one connection"
        print(f"order_post: POST /api/orders/ against one gunicorn worker, closed loop, {connections}")
        when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        print(f"date        {when}; load average {loadavg[0]:.2f} {loadavg[1]:.2f} (1, 5 min; before)")
        print(f"python      {interpreter()}")
        print(f"command     .venv/bin/python -m bench.order_post {' '.join(sys.argv[1:])}")
        print(f"web         gunicorn 1 worker x {args.threads} thread(s)" + (f"; env {env}" if env else ""))
        print(
            f"requests    {n} timed after {args.warmup} warm-up, 1-3 lines each, {t1 - t0:.1f} s,"
            f" in {len(rounds)} rounds; CPU per POST: median of the rounds (lowest-highest)"
        )
        print(
            f"web CPU per POST          {statistics.median(web):6.2f} ms  ({web[0]:.2f}-{web[-1]:.2f};"
            " the worker process, all threads)"
        )
        print(
            f"Postgres CPU per POST     {statistics.median(pg):6.2f} ms  ({pg[0]:.2f}-{pg[-1]:.2f};"
            " this cluster's backends)"
        )
        print(
            f"wall per POST             p50 {pct(ms, 50):.2f}  p99 {pct(ms, 99):.2f}  mean"
            f" {statistics.fmean(ms):.2f} ms  ({n / (t1 - t0):.0f} POST/s)"
        )
        if spy:
            print()
            print(spy.report(top=25))
        return 0
    except Exception:
        print("--- logs ---\n" + cluster.logs(), file=sys.stderr)
        raise
    finally:
        cluster.destroy()
        drop_templates()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
