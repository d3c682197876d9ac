#!/usr/bin/env python
"""copy_database on a big outbox: time, rows per second and the memory of the copying process.

    .venv/bin/python -m bench.copy_database [--rows 10000,100000,1000000] [--size 1000]
                                            [--source sqlite|postgres] [--target postgres|sqlite]

A benchmark, not a test: it prints figures and asserts nothing about them. For each row count:

1. a private source database for the `orders` alias (a SQLite file, the monolith's case, or a
   Postgres database), migrated, its outbox filled with N shop.orders.order_placed.v1 envelopes
   of --size bytes of data (bench/relay_throughput.py's generator), half of them published;
2. a private, empty target database;
3. `manage.py copy_database orders --to <target>` as a process of its own, exactly as a user runs
   it (migrate the target, copy in batches, reset sequences, verify counts and checksums), while
   its resident memory is sampled every 0.1 s; its peak (the kernel's, from wait4) is the figure;
4. prints one line per row count, then drops what it created.

Flat memory means the peak does not grow with N: compare the 10k line with the 1M line.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from devtools.postgres import admin, database_url

ROOT = Path(__file__).resolve().parent.parent

CHUNK = 10_000  # rows generated and inserted at a time, so the bench itself stays small too


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default="10000,100000,1000000", help="outbox row counts, comma separated")
    p.add_argument("--size", type=int, default=1000, help="bytes of event data per row")
    p.add_argument("--source", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--target", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--batch-size", type=int, default=None, help="copy_database --batch-size")
    p.add_argument("--fill", type=int, default=0, help=argparse.SUPPRESS)  # internal: fill one source
    p.add_argument(
        "--pg-url",
        default=os.environ.get("DATABASE_URL_ORDERS", "postgres://shop:shop@127.0.0.1:5432/shop_orders"),
        help="any database URL on the cluster to use (only host, port, user, password are taken)",
    )
    return p.parse_args()


def manage_env(source_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL_", "EVENTS_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "SHOP_SERVICES": "orders",
            "DATABASE_URL_ORDERS": source_url,
            "DJANGO_DEBUG": "0",  # DEBUG keeps every query in memory: not what a real run does
            "EVENTS_RELAY_IN_PROCESS": "0",
            "CELERY_IN_PROCESS_WORKER": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def fill_source(source_url: str, rows: int, size: int) -> float:
    """Migrate the source and fill its outbox; returns seconds taken."""
    started = time.perf_counter()
    env = manage_env(source_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database", "orders", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "bench.copy_database", "--fill", str(rows), "--size", str(size)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return time.perf_counter() - started


def fill_outbox(rows: int, size: int) -> None:
    """(In a process whose DATABASE_URL_ORDERS is the source.) Insert `rows` outbox rows, a chunk
    at a time: half published (the history), half pending (what a stopped relay leaves behind)."""
    import django

    django.setup()
    from django.db import connections

    from bench.relay_throughput import make_rows

    connection = connections["orders"]
    columns = "event_id, topic, key, type, envelope, created_at, published_at"
    # Making valid events is slow (schemas, JSON): make one chunk, then repeat it with new ids.
    template = make_rows(min(CHUNK, rows), size)
    for first in range(0, rows, CHUNK):
        values = []
        for i, (event_id, topic, key, kind, envelope, created) in enumerate(template[: rows - first]):
            new_id = str(uuid.uuid4())
            envelope = envelope.replace(event_id, new_id)
            values.append((new_id, topic, key, kind, envelope, created, created if (first + i) % 2 else None))
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.copy(f"COPY events_outboxevent ({columns}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
            else:  # as Django stores them in SQLite: UUIDs as hex, datetimes as naive UTC text
                marks = ", ".join(["%s"] * 7)
                cursor.executemany(
                    f"INSERT INTO events_outboxevent ({columns}) VALUES ({marks})",
                    [
                        (e.replace("-", ""), t, k, ty, env, c.isoformat(" "), p and p.isoformat(" "))
                        for e, t, k, ty, env, c, p in values
                    ],
                )


def run_copy(source_url: str, target_url: str, batch_size: int | None) -> dict:
    """Run copy_database as its own process; its output and memory figures."""
    argv = [sys.executable, "manage.py", "copy_database", "orders", "--to", target_url]
    if batch_size:
        argv += ["--batch-size", str(batch_size)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=manage_env(source_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    samples: list[int] = []

    def sample() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            except OSError:
                return
            if match:
                samples.append(int(match.group(1)))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"copy_database failed ({proc.returncode}):\n{output}")
    copied = re.search(
        r"copied ([\d,]+) rows in \d+ tables in ([\d.]+) s \(([\d,]+) rows/s\); verified equal in ([\d.]+) s",
        output,
    )
    return {
        "wall": wall,
        "copy_s": float(copied.group(2)),
        "rate": int(copied.group(3).replace(",", "")),
        "verify_s": float(copied.group(4)),
        "peak_mib": usage.ru_maxrss / 1024,
        "median_mib": sorted(samples)[len(samples) // 2] / 1024 if samples else 0.0,
        "output": output,
    }


def main() -> None:
    args = parse_args()
    if args.fill:
        fill_outbox(args.fill, args.size)
        return
    counts = [int(n) for n in args.rows.split(",") if n]
    tag = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="bench-copy-"))
    created: list[str] = []
    pg = admin(args.pg_url)

    def new_database(role: str, n: int) -> str:
        if (args.source if role == "src" else args.target) == "sqlite":
            return f"sqlite:///{workdir / f'{role}_{n}.sqlite3'}"
        name = f"shop_bench_copy_{tag}_{role}_{n}"
        pg.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return database_url(name, args.pg_url)

    print(f"copy_database orders: {args.source} -> {args.target}, outbox rows of {args.size} B of data")
    columns = ("rows", "fill s", "copy s", "rows/s", "verify s", "total s", "peak RSS MiB")
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (10, 8, 8, 9, 9, 8, 13), strict=True)))
    try:
        for n in counts:
            source, target = new_database("src", n), new_database("dst", n)
            filled = fill_source(source, n, args.size)
            result = run_copy(source, target, args.batch_size)
            print(
                f"{n:>10,} {filled:>8.1f} {result['copy_s']:>8.1f} {result['rate']:>9,} "
                f"{result['verify_s']:>9.1f} {result['wall']:>8.1f} {result['peak_mib']:>13.0f}",
                flush=True,
            )
    finally:
        for name in created:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
