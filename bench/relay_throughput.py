#!/usr/bin/env python
"""Outbox relay throughput: the real relay vs a naive one vs the broker's own limit, in one run.

    .venv/bin/python -m bench.relay_throughput [--events 100000] [--size 1000] [--batch-size 500]

A benchmark, not a test: it asserts nothing about timing, it prints figures. What it does:

1. creates a private Postgres database (default cluster from DATABASE_URL_ORDERS, role shop)
   and migrates it as the `orders` alias, and private Kafka topics (EVENTS_NAMESPACE=bench-<hex>.);
2. fills the outbox with N shop.orders.order_placed.v1 events (data validates against the
   schema; order lines are added and the address padded so the Kafka value is exactly --size
   bytes) and drains it with the real `events.outbox.relay.Relay(..., KafkaTransport(...))`, acks=all,
   once per batch size;
3. sends the same records from memory with the Python client alone (kafka-python, the relay's
   producer settings, no database): the ceiling of any relay built on that client here;
   then drains a smaller outbox with a naive relay: one row, one send, future.get(), one UPDATE;
   and, --rounds times in all, the real relay (marking, then deleting) and the client alone in
   turn: each ratio per round and its median, as this machine's spread between runs is wide;
4. runs Kafka's own ProducerPerformance (Java) against the same broker with the same record
   size, acks=all, as the ceiling;
5. prints one table, then drops its database and deletes its topics.

Nothing here changes the relay: it runs events/outbox/relay.py and
events/transports/kafka/producer.py as they are. --profile adds a cProfile of one extra
real-relay run (main thread only: kafka-python's sender thread and the relay's send thread are
not in it; their cost shows as time waiting for a batch's send).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.common import PySpy, delete_topics, interpreter, markdown_table, process_cpu, setup_django
from devtools import postgres
from devtools.cluster import ROOT

EVENT_TYPE = "shop.orders.order_placed.v1"
PARTITIONS = 6  # what `manage.py ensure_topics` creates by default
DELETING = "real relay, rows deleted (retention 0)"
MIB = 1024 * 1024  # ProducerPerformance's "MB" is MiB; use the same unit


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000, help="outbox rows per real-relay run")
    p.add_argument("--size", type=int, default=1000, help="Kafka record value size in bytes (event data)")
    p.add_argument("--batch-size", type=int, default=500, help="the relay batch size (the default setting)")
    p.add_argument(
        "--also-batch-sizes",
        default="100,2000",
        help="more batch sizes to run the real relay with, comma separated ('' = none)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times the real relay (marking, then deleting) and the client alone run in turn: this "
        "machine's run-to-run spread is wider than the differences measured, so each ratio is also "
        "printed per round and as the median (the table is of round 1)",
    )
    p.add_argument("--naive-events", type=int, default=5000, help="sample size for the naive relay")
    p.add_argument("--partitions", type=int, default=PARTITIONS)
    p.add_argument(
        "--pg-url",
        default=os.environ.get("DATABASE_URL_ORDERS", "postgres://shop:shop@127.0.0.1:5432/shop_orders"),
        help="any database URL on the cluster to use (only host, port, user, password are taken)",
    )
    p.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="Kafka bootstrap servers",
    )
    p.add_argument(
        "--wakeup-events",
        type=int,
        default=300,
        help="events published one per transaction for the low-rate run of the relay process (0: skip)",
    )
    p.add_argument("--wakeup-rate", type=float, default=20.0, help="their rate, per second")
    p.add_argument(
        "--rest-seconds", type=float, default=10.0, help="how long the relay process is watched at rest"
    )
    p.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample the relay process with py-spy during the low-rate run (DIR/relay.txt)",
    )
    p.add_argument("--no-broker-baseline", action="store_true", help="skip Java ProducerPerformance")
    p.add_argument("--profile", action="store_true", help="also cProfile one real-relay run")
    p.add_argument("--keep-topics", action="store_true", help="do not delete the bench topics")
    return p.parse_args()


# --- set-up before Django ----------------------------------------------------------------------


def configure_django(db_url: str, namespace: str, bootstrap: str) -> None:
    """A relay process of the orders service on the database at `db_url`, relaying to Kafka."""
    setup_django(
        SHOP_SERVICES="orders",  # only the orders aliases are configured
        DATABASE_URL_ORDERS=db_url,
        EVENTS_NAMESPACE=namespace,
        EVENTS_TRANSPORT="kafka",
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
    )
    import logging

    logging.getLogger("kafka").setLevel(logging.ERROR)  # "group_id is None" from the offset probe


# --- events ------------------------------------------------------------------------------------


def order_placed_data(order_id: int, rng: random.Random, size: int) -> dict:
    """A valid order_placed.v1 payload whose compact, sorted JSON (the Kafka value) is exactly
    `size` bytes, for sizes from ~200 B up: order lines are added, then the address padded."""

    def encoded(obj) -> int:
        return len(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())

    lines: list[dict] = []
    street = f"{rng.randint(1, 999)} {rng.choice(['Rue de la Paix', 'Main Street', 'Hauptstrasse'])}, "
    data = {
        "order_id": order_id,
        "customer_id": rng.randint(1, 50_000),
        "currency": "EUR",
        "total": "0.00",
        "shipping_address": street,
        "lines": lines,
    }
    length = encoded(data)  # with "lines": [], grows by each line plus a comma
    while len(lines) < 1000:
        pid = rng.randint(1, 100_000)
        line = {
            "product_id": pid,
            "sku": f"SKU-{pid:06d}",
            "name": f"Product {pid} {rng.choice(['mug', 'shirt', 'lamp', 'book', 'chair'])}",
            "unit_price": f"{rng.randint(100, 99_999) / 100:.2f}",
            "quantity": rng.randint(1, 5),
        }
        grown = length + encoded(line) + (1 if lines else 0)
        if lines and grown > size - 60:  # leave room for the total and the padded address
            break
        lines.append(line)
        length = grown
    cents = sum(round(float(line["unit_price"]) * 100) * line["quantity"] for line in lines)
    data["total"] = f"{cents / 100:.2f}"
    pad = size - encoded(data)
    if pad > 0:
        data["shipping_address"] = (street + "x" * pad)[:500]
    return data


def make_rows(n: int, size: int, seed: int = 42, first_order_id: int = 1) -> list[tuple]:
    """(event_id, topic, key, type, envelope_json, created_at) for COPY into the outbox: what
    publish() writes for an order_placed event, minus the business transaction around it."""
    from events import tracing
    from events.envelope import Event
    from events.schemas import topic_for, validate

    rng = random.Random(seed)
    topic = topic_for(EVENT_TYPE)
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        order_id = first_order_id + i
        data = order_placed_data(order_id, rng, size)
        event = Event(
            type=EVENT_TYPE,
            source="/shop/orders",
            subject=str(order_id),
            data=data,
            traceparent=tracing.new_traceparent(),
            requestid=uuid.uuid4().hex,
        )
        # Event.to_dict() deep-copies data (dataclasses.asdict): slow for 100k events, and the
        # same dict as this shallow one, which a sample checks along with the schema.
        envelope = {k: v for k, v in vars(event).items() if v is not None}
        if i % 1000 == 0:
            validate(EVENT_TYPE, data)
            if envelope != event.to_dict():
                raise RuntimeError("bench envelope differs from Event.to_dict()")
        rows.append((event.id, topic, event.subject, EVENT_TYPE, json.dumps(envelope), now))
    return rows


def fill_outbox(alias: str, rows: list[tuple]) -> float:
    """Empty the outbox and COPY `rows` into it (as publish() would have, minus the business
    transactions); VACUUM ANALYZE so every run starts from the same table state."""
    from django.db import connections

    from events.models import OutboxEvent

    table = OutboxEvent._meta.db_table
    started = time.perf_counter()
    conn = connections[alias]
    with conn.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table} RESTART IDENTITY")
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} (event_id, topic, key, type, envelope, created_at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


def unpublished(alias: str) -> int:
    from events.models import OutboxEvent

    return OutboxEvent.objects.using(alias).filter(published_at__isnull=True).count()


# --- Kafka helpers -----------------------------------------------------------------------------


def create_topics(bootstrap: list[str], names: list[str], partitions: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shop-bench")
    try:
        admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        admin.close()


def end_offset_total(bootstrap: list[str], topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="shop-bench-offsets")
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads: includes the sender thread
    return usage.ru_utime + usage.ru_stime


# --- the three contenders ----------------------------------------------------------------------


class Phases:
    """Where the real relay's time goes, from hooks that cost next to nothing: Django's
    execute_wrapper around every SQL statement, and wrappers around the relay's read of a batch
    (SQL + decoding rows into Messages), the transport's send() and its wait for the acks.

    A busy outbox is pipelined (Relay._relay_pipelined): the sends run in a helper thread while
    the relay's thread marks the previous batch and reads the next, so the phases overlap and
    their sum exceeds the wall time; the table says by how much."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {
            "select": 0.0,
            "update": 0.0,
            "read": 0.0,
            "send": 0.0,
            "flush": 0.0,
        }
        self.flush_timed = True

    def sql(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = "select" if sql.lstrip().upper().startswith("SELECT") else "update"
            self.seconds[kind] += time.perf_counter() - started

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed

    def wrap_context(self, name: str, manager):
        @contextlib.contextmanager
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                with manager(*args, **kwargs):
                    yield
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed

    def table(self, wall: float) -> list[tuple[str, float | None]]:
        s = self.seconds
        flush = s["flush"] if self.flush_timed else None
        database = s["read"] + s["update"]
        return [
            ("SELECT batch (server + transfer)", s["select"]),
            ("decode rows into Messages", s["read"] - s["select"]),
            ("to_kafka + producer.send() per record", s["send"] - (flush or 0.0)),
            ("producer.flush(): wait for acks=all", flush),
            ("UPDATE ... WHERE id IN (...) + commit", s["update"]),
            ("= database work (relay's thread)", database),
            ("= sending (helper thread when pipelined)", s["send"]),
            ("overlap: database work done during sends", max(0.0, database + s["send"] - wall)),
        ]


def run_real_relay(
    alias: str,
    bootstrap: list[str],
    topic: str,
    batch_size: int,
    n: int,
    profile=None,
    *,
    delete_published: bool = False,
):
    from django.db import connections

    from events.outbox.relay import Relay
    from events.transports.kafka import producer as kafka_producer
    from events.transports.kafka.producer import KafkaTransport

    transport = KafkaTransport(bootstrap)
    # Warm up: connect and fetch the topic's metadata, as a long-running relay already has.
    producer = transport.producer
    if hasattr(producer, "partitions_for"):  # kafka-python
        producer.partitions_for(topic)
    else:  # a client library with another API (e.g. confluent-kafka's list_topics)
        producer.list_topics(topic, timeout=10)
    phases = Phases()
    transport.send = phases.wrap("send", transport.send)
    # The wait for the acks: the block in which KafkaTransport.send() waits for them.
    sending_now = getattr(kafka_producer, "_sending_now", None)
    if sending_now is not None:
        kafka_producer._sending_now = phases.wrap_context("flush", sending_now)
    else:  # another client: the wait stays inside send
        phases.flush_timed = False
    relay = Relay(alias, transport, batch_size=batch_size)
    relay.delete_published = delete_published  # as with EVENTS_OUTBOX_RETENTION_HOURS=0
    relay._select = phases.wrap("read", relay._select)
    before = end_offset_total(bootstrap, topic)
    try:
        with connections[alias].execute_wrapper(phases.sql):
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            if profile is not None:
                profile.enable()
            total = 0
            while sent := relay.relay_pending():
                total += sent
            if profile is not None:
                profile.disable()
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    finally:
        if sending_now is not None:
            kafka_producer._sending_now = sending_now
    transport.close()
    landed = end_offset_total(bootstrap, topic) - before
    left = unpublished(alias)
    if total != n or left or landed != n:
        print(
            f"  !! batch {batch_size}: relayed {total}/{n}, {left} left unpublished, {landed} landed on Kafka"
        )
    return {
        "events": total,
        "seconds": wall,
        "cpu": cpu,
        "batches": -(-total // batch_size),
        "phases": phases.table(wall),
    }


def run_naive_relay(alias: str, bootstrap: list[str], topic: str, n: int, linger_ms: int | None):
    """What a first relay looks like: oldest unpublished row, send it, wait for its ack, mark it
    published, next. Same producer settings as the real relay (acks=all, idempotence, lz4),
    except linger_ms when given."""
    from django.utils import timezone
    from kafka import KafkaProducer

    from events.envelope import Event
    from events.models import OutboxEvent
    from events.transports.kafka import kafka_name
    from events.transports.kafka.producer import SEND_TIMEOUT_SECONDS, producer_config

    config = producer_config(bootstrap)
    if linger_ms is not None:
        config["linger_ms"] = linger_ms
    producer = KafkaProducer(**config)
    producer.partitions_for(topic)
    outbox = OutboxEvent.objects.using(alias)
    before = end_offset_total(bootstrap, topic)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    total = 0
    while True:
        row = (
            outbox.filter(published_at__isnull=True)
            .order_by("id")
            .values_list("id", "topic", "key", "envelope")
            .first()
        )
        if row is None:
            break
        row_id, logical_topic, _, envelope = row
        key, value, headers = Event.from_dict(envelope).to_kafka()
        producer.send(kafka_name(logical_topic), key=key, value=value, headers=headers).get(
            timeout=SEND_TIMEOUT_SECONDS
        )
        outbox.filter(id=row_id).update(published_at=timezone.now())
        total += 1
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    producer.close(timeout=5)
    landed = end_offset_total(bootstrap, topic) - before
    if total != n or landed != n:
        print(f"  !! naive: relayed {total}/{n}, {landed} landed on Kafka")
    return {"events": total, "seconds": wall, "cpu": cpu, "batches": total}


def run_client_alone(
    bootstrap: list[str], topic: str, rows: list[tuple], batch_size: int, *, structured: bool = False
) -> dict:
    """The Python Kafka client's own ceiling here: the relay's records, already encoded in
    memory, sent with the relay's producer settings in batches of `batch_size` and flushed after
    each, as the relay does; no database, no decoding. What no relay built on it can beat.
    `structured`: the same events in CloudEvents structured content mode instead (the whole
    envelope as the JSON value, one content-type header instead of ten): what the headers cost."""
    from kafka import KafkaProducer

    from events.envelope import Event
    from events.heap import freeze_startup_heap
    from events.transports.kafka.producer import producer_config

    if structured:
        header = [("content-type", b"application/cloudevents+json")]
        records = [(str(json.loads(r[4])["subject"]).encode(), r[4].encode(), header) for r in rows]
    else:
        records = [Event.from_dict(json.loads(r[4])).to_kafka() for r in rows]
    freeze_startup_heap()  # the records are the bench's memory, not the client's work (see main())
    producer = KafkaProducer(**producer_config(bootstrap))
    producer.partitions_for(topic)
    before = end_offset_total(bootstrap, topic)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for start in range(0, len(records), batch_size):
        futures = [
            producer.send(topic, key=key, value=value, headers=headers)
            for key, value, headers in records[start : start + batch_size]
        ]
        producer.flush()
        for future in futures:
            future.get(timeout=0)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    producer.close(timeout=5)
    landed = end_offset_total(bootstrap, topic) - before
    if landed != len(records):
        print(f"  !! client alone: {landed}/{len(records)} landed on Kafka")
    return {"events": len(records), "seconds": wall, "cpu": cpu, "batches": -(-len(records) // batch_size)}


def run_client_trickle(bootstrap: list[str], topic: str, rows: list[tuple], rate: float) -> dict:
    """The client alone at a low rate: one record at a time, `rate` per second, each sent, flushed
    and waited for (what a relay wake-up with one row asks of it), the relay's producer settings.
    This process's CPU over the run, all threads (the sender thread included), per record: the
    floor under the relay's CPU per wake-up that no relay on this client can go below."""
    from kafka import KafkaProducer

    from events.envelope import Event
    from events.heap import freeze_startup_heap
    from events.transports.kafka.producer import producer_config

    records = [Event.from_dict(json.loads(r[4])).to_kafka() for r in rows]
    freeze_startup_heap()
    producer = KafkaProducer(**producer_config(bootstrap))
    try:
        key, value, headers = records[0]
        producer.send(topic, key=key, value=value, headers=headers).get(timeout=30)  # warm up
        time.sleep(0.5)
        cpu0, started = cpu_seconds(), time.perf_counter()
        for i, (key, value, headers) in enumerate(records):
            if (delay := started + i / rate - time.perf_counter()) > 0:
                time.sleep(delay)
            future = producer.send(topic, key=key, value=value, headers=headers)
            producer.flush()
            future.get(timeout=30)
        cpu = cpu_seconds() - cpu0
    finally:
        producer.close(timeout=5)
    return {"per_record": cpu / len(records), "records": len(records), "rate": rate}


def run_wakeups(
    alias: str, n: int, rate: float, rest_seconds: float, size: int, workdir: Path, spy: PySpy | None = None
) -> dict:
    """The relay as it runs in production — `manage.py relay_outbox`, a process of its own, woken
    by LISTEN/NOTIFY — at rest, then at a low rate: `n` events, each published in a transaction
    of its own (as the saga's handlers publish them), `rate` per second, so each is one wake-up.
    Its CPU comes from /proc; this process (the publisher) is not counted."""
    from django.db import transaction

    from events import publish

    fill_outbox(alias, [])
    log = workdir / "relay.log"
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "relay_outbox", "--database", alias],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    rng = random.Random(7)
    datas = [order_placed_data(10_000_000 + i, rng, size) for i in range(n + 20)]

    def publish_at(count: int, offset: int, per_second: float) -> None:
        started = time.perf_counter()
        for i in range(count):
            if (delay := started + i / per_second - time.perf_counter()) > 0:
                time.sleep(delay)
            data = datas[offset + i]
            with transaction.atomic(using=alias):
                publish(EVENT_TYPE, key=data["order_id"], data=data, using=alias)

    def wait_published(timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while unpublished(alias) and time.monotonic() < deadline:
            time.sleep(0.05)
        if unpublished(alias):
            raise RuntimeError(f"the relay process left rows unpublished; its log: {log.read_text()[-2000:]}")

    try:
        deadline = time.monotonic() + 60
        while b"relaying" not in log.read_bytes() and relay.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        publish_at(20, n, 20.0)  # warm-up: connections, metadata, the producer
        wait_published()
        time.sleep(1.0)
        cpu0, t0 = process_cpu(relay.pid), time.perf_counter()
        time.sleep(rest_seconds)
        cpu1, t1 = process_cpu(relay.pid), time.perf_counter()
        rest = (cpu1 - cpu0) / (t1 - t0)
        if spy:
            spy.start({"relay": relay.pid})
        publish_at(n, 0, rate)
        wait_published()
        cpu2, t2 = process_cpu(relay.pid), time.perf_counter()
        if spy:
            spy.stop()
        busy = cpu2 - cpu1 - rest * (t2 - t1)
        return {"rest": rest, "rest_seconds": t1 - t0, "per_event": busy / n, "events": n, "rate": rate}
    finally:
        relay.terminate()
        try:
            relay.wait(timeout=20)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()


SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency"
)


def kafka_classpath() -> str | None:
    script = ROOT / "scripts" / "kafka-local"
    with contextlib.suppress(Exception):
        out = subprocess.run([str(script), "classpath"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[-1]
    libs = sorted((ROOT / ".cache" / "kafka").glob("*/libs"))
    return f"{libs[-1]}/*" if libs else None


def run_producer_perf(bootstrap: list[str], topic: str, n: int, size: int, payload_file: Path | None):
    """Kafka's own ProducerPerformance (the Java client): the broker's ceiling for this record
    size with acks=all. Kafka 4.x: --command-property replaces the deprecated --producer-props."""
    java, classpath = shutil.which("java"), kafka_classpath()
    if not java or not classpath:
        return None, "java or the Kafka jars not found"
    cmd = [
        java,
        "-Xmx512m",
        "-cp",
        classpath,
        "org.apache.kafka.tools.ProducerPerformance",
        "--bootstrap-server",
        ",".join(bootstrap),
        "--topic",
        topic,
        "--num-records",
        str(n),
        "--throughput",
        "-1",
        "--command-property",
        "acks=all",
        "linger.ms=5",
        "batch.size=262144",
        "compression.type=lz4",
    ]
    cmd += ["--payload-file", str(payload_file)] if payload_file else ["--record-size", str(size)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [m for m in (SUMMARY.search(line) for line in out.stdout.splitlines()) if m]
    if out.returncode != 0 or not lines:
        return None, (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no summary line"]
    m = lines[-1]  # the final summary (earlier ones are the periodic reports)
    return {
        "events": int(m.group(1)),
        "rate": float(m.group(2)),
        "mib": float(m.group(3)),
        "avg_ms": float(m.group(4)),
        "max_ms": float(m.group(5)),
        "line": m.group(0),
    }, " ".join(["java", *cmd[1:]]).replace(classpath, "'<kafka libs>/*'")


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    interpreter()  # its speed, measured before the load; printed with the figures
    bootstrap = [s.strip() for s in args.bootstrap.split(",") if s.strip()]
    tag = uuid.uuid4().hex[:8]
    db_name = f"shop_bench_relay_{tag}"
    namespace = f"bench-{tag}."
    batch_sizes = [args.batch_size] + [
        int(b) for b in args.also_batch_sizes.split(",") if b.strip() and int(b) != args.batch_size
    ]

    with postgres.admin(args.pg_url) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    topics: list[str] = []
    try:
        configure_django(postgres.database_url(db_name, args.pg_url), namespace, args.bootstrap)
        from django.core.management import call_command
        from django.db import connections

        from events.heap import freeze_startup_heap
        from events.schemas import topic_for
        from events.transports.kafka import kafka_name

        alias = "orders"
        call_command("migrate", database=alias, verbosity=0)
        topic = kafka_name(topic_for(EVENT_TYPE))
        perf_topic = kafka_name("bench.producer-performance")
        topics = [topic, perf_topic]
        create_topics(bootstrap, topics, args.partitions)

        print(
            f"relay_throughput: database {db_name}, topics {namespace}*, {args.partitions} partitions, "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        t = time.perf_counter()
        rows = make_rows(max(args.events, args.naive_events), args.size)
        # What a relay process does before its loop (events/heap.py), here with the bench's own
        # rows in the frozen heap too: a relay process holds none of them, and the collector
        # walking them would charge the relay (and the client alone) for the bench's memory.
        freeze_startup_heap()
        sample = json.loads(rows[0][4])
        from events.envelope import Event

        key, value, headers = Event.from_dict(sample).to_kafka()
        overhead = len(key) + sum(len(h) + len(v) for h, v in headers)
        envelope_bytes = sum(len(r[4]) for r in rows[:1000]) / min(len(rows), 1000)
        print(
            f"  built {len(rows)} {EVENT_TYPE} envelopes in {time.perf_counter() - t:.1f}s: "
            f"value {len(value)} B, key+headers {overhead} B, outbox envelope ~{envelope_bytes:.0f} B"
        )

        def drained(bs: int, *, delete_published: bool = False) -> dict:
            """A freshly filled outbox drained by the real relay at batch size `bs`."""
            secs = fill_outbox(alias, rows[: args.events])
            what = ", rows deleted (retention 0)" if delete_published else ""
            print(
                f"  real relay, batch {bs}{what}: outbox filled ({args.events} rows, {secs:.1f}s),",
                "draining...",
            )
            return run_real_relay(alias, bootstrap, topic, bs, args.events, delete_published=delete_published)

        def client_alone(**kwargs) -> dict:
            return run_client_alone(bootstrap, topic, rows[: args.events], args.batch_size, **kwargs)

        results: list[tuple[str, int, dict]] = [("real relay", bs, drained(bs)) for bs in batch_sizes]
        deleting = drained(args.batch_size, delete_published=True)
        results.append((DELETING, args.batch_size, deleting))
        print(f"  kafka-python client alone: {args.events} records from memory, batch {args.batch_size}...")
        client = client_alone()
        results.append(("kafka-python client alone (no database)", args.batch_size, client))
        print("  kafka-python client alone, structured mode: the envelope as the value, one header...")
        results.append(
            ("client alone, structured mode (1 header)", args.batch_size, client_alone(structured=True))
        )
        rounds = [(results[0][2], deleting, client)]
        for n in range(2, args.rounds + 1):
            print(f"  round {n} of {args.rounds}: real relay, then rows deleted, then the client alone...")
            rounds.append(
                (drained(args.batch_size), drained(args.batch_size, delete_published=True), client_alone())
            )

        naive: list[tuple[str, int, dict]] = []
        for linger in (None, 0) if args.naive_events else ():
            fill_outbox(alias, rows[: args.naive_events])
            label = "naive relay" + (" (linger_ms=0)" if linger == 0 else "")
            print(f"  {label}: draining {args.naive_events} rows one at a time...")
            naive.append((label, 1, run_naive_relay(alias, bootstrap, topic, args.naive_events, linger)))

        wakeups = None
        if args.wakeup_events:
            print(
                f"  relay process at rest ({args.rest_seconds:g} s), then {args.wakeup_events} events,"
                f" one per transaction, at {args.wakeup_rate:g}/s..."
            )
            spy = PySpy(args.py_spy) if args.py_spy else None
            with tempfile.TemporaryDirectory() as workdir:
                wakeups = run_wakeups(
                    alias,
                    args.wakeup_events,
                    args.wakeup_rate,
                    args.rest_seconds,
                    args.size,
                    Path(workdir),
                    spy,
                )
            if spy:
                wakeups["profile"] = spy.report(top=30)
            print(
                f"  kafka-python client alone: {args.wakeup_events} records, one at a time,"
                f" at {args.wakeup_rate:g}/s..."
            )
            wakeups["client"] = run_client_trickle(
                bootstrap, topic, rows[: args.wakeup_events], args.wakeup_rate
            )

        perf: list[tuple[str, dict | None, str]] = []
        if not args.no_broker_baseline:
            with tempfile.NamedTemporaryFile("w", suffix=".payloads", delete=False) as f:
                for r in rows[:2000]:
                    f.write(json.dumps(json.loads(r[4])["data"], separators=(",", ":"), sort_keys=True))
                    f.write("\n")
                payload_file = Path(f.name)
            try:
                for label, pf in (("random bytes", None), ("the relay's JSON values", payload_file)):
                    print(f"  ProducerPerformance ({label}): {args.events} records...")
                    res, cmd = run_producer_perf(bootstrap, perf_topic, args.events, args.size, pf)
                    perf.append((label, res, cmd))
            finally:
                payload_file.unlink(missing_ok=True)

        profile_text = None
        if args.profile:
            fill_outbox(alias, rows[: args.events])
            prof = cProfile.Profile()
            print(f"  cProfile: real relay, batch {args.batch_size}, draining...")
            res = run_real_relay(alias, bootstrap, topic, args.batch_size, args.events, profile=prof)
            buf = io.StringIO()
            stats = pstats.Stats(prof, stream=buf)
            buf.write(f"profiled run: {res['events'] / res['seconds']:,.0f} events/s under cProfile\n")
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
            profile_text = buf.getvalue()

        report(args, results, naive, perf, len(value), overhead, wakeups, rounds)
        if profile_text:
            print("\ncProfile of the relay's main thread (sender thread not included):")
            print(profile_text)
        connections.close_all()
        return 0
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with postgres.admin(args.pg_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        if topics and not args.keep_topics:
            with contextlib.suppress(Exception):
                delete_topics(bootstrap, topics)


def report(args, results, naive, perf, value_size, overhead, wakeups=None, rounds=()) -> None:
    ceiling = next((p["rate"] for _, p, _ in perf if p), None)
    rows = []
    for label, bs, r in [*results, *naive]:
        rate = r["events"] / r["seconds"]
        rows.append(
            [
                label,
                str(bs),
                str(r["events"]),
                f"{r['seconds']:.2f}",
                f"{rate:,.0f}",
                f"{rate * value_size / MIB:.2f}",
                f"{100 * r['cpu'] / r['seconds']:.0f}%",
                f"{1e6 * r['cpu'] / r['events']:.0f}",
                f"{100 * rate / ceiling:.1f}%" if ceiling else "-",
            ]
        )
    for label, p, _ in perf:
        name = f"ProducerPerformance ({label})"
        if p is None:
            rows.append([name, "-", "-", "-", "failed", "-", "-", "-", "-"])
            continue
        rate = p["rate"]
        rows.append(
            [
                name,
                "-",
                str(p["events"]),
                f"{p['events'] / rate:.2f}",
                f"{rate:,.0f}",
                f"{p['mib']:.2f}",
                "-",
                "-",
                f"{100 * rate / ceiling:.1f}%" if ceiling else "-",
            ]
        )
    header = ["path", "batch", "events", "seconds", "events/s", "MiB/s", "cpu", "cpu us/event", "vs broker"]
    print()
    print(
        f"relay_throughput: {args.events} events, value {value_size} B (+{overhead} B key and ce_* headers),"
        f" acks=all, lz4, {args.partitions} partitions, {os.cpu_count()} CPUs,"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"python {interpreter()}")
    print()
    print(markdown_table(header, rows, right=set(range(1, 9))))
    print()
    primary = results[0][2]
    real_rate = primary["events"] / primary["seconds"]
    client = next((r for label, _, r in results if label.startswith("kafka-python client alone")), None)
    if client:
        print(
            f"real relay (batch {args.batch_size}) / kafka-python client alone: "
            f"{real_rate / (client['events'] / client['seconds']):.2f} (events/s);"
            f" CPU per event {(primary['cpu'] / primary['events']) / (client['cpu'] / client['events']):.2f}x"
            " the client's"
        )
        deleting = next((r for label, _, r in results if label == DELETING), None)
        if deleting:
            print(
                f"real relay (batch {args.batch_size}), published rows deleted / kafka-python client alone: "
                f"{(deleting['events'] / deleting['seconds']) / (client['events'] / client['seconds']):.2f}"
                " (events/s; EVENTS_OUTBOX_RETENTION_HOURS=0)"
            )
    if len(rounds) > 1:

        def ratios(which: int) -> str:
            each = [
                (r[which]["events"] / r[which]["seconds"]) / (r[2]["events"] / r[2]["seconds"])
                for r in rounds
            ]
            return f"{', '.join(f'{x:.2f}' for x in each)} (median {statistics.median(each):.2f})"

        print(
            f"over {len(rounds)} rounds, each run beside the client alone in turn: real relay / client alone"
            f" {ratios(0)}; rows deleted / client alone {ratios(1)}"
        )
    if wakeups:
        print(
            f"relay process (manage.py relay_outbox) at {wakeups['rate']:g} events/s, one per transaction:"
            f" {1000 * wakeups['per_event']:.2f} ms of CPU per event (= per wake-up), over"
            f" {wakeups['events']} events; at rest: {100 * wakeups['rest']:.2f}% of a core"
            f" (over {wakeups['rest_seconds']:.0f} s)"
        )
        client_floor = wakeups["client"]
        print(
            f"kafka-python client alone at {client_floor['rate']:g} records/s, one send + flush + get each:"
            f" {1000 * client_floor['per_record']:.2f} ms of CPU per record, over {client_floor['records']}"
            " (the client's own share of a one-row wake-up)"
        )
        if wakeups.get("profile"):
            print(wakeups["profile"])
    if naive:
        best_naive = max(r["events"] / r["seconds"] for _, _, r in naive)
        print(f"real relay (batch {args.batch_size}) / best naive relay: {real_rate / best_naive:,.1f}x")
    for label, p, cmd in perf:
        if p:
            print(
                f"real relay (batch {args.batch_size}) / ProducerPerformance ({label}): "
                f"{100 * real_rate / p['rate']:.1f}%"
                f" (its latency: avg {p['avg_ms']:.0f} ms, max {p['max_ms']:.0f} ms)"
            )
        else:
            print(f"ProducerPerformance ({label}) failed: {cmd}")
    if perf and perf[0][1]:
        print(f"broker baseline command: {perf[0][2]}")
    print()
    print(f"where the real relay's time goes (batch {args.batch_size}, wall time per event):")
    for label, secs in primary["phases"]:
        if secs is None:
            print(f"  {label:<42}  (not timed separately: counted in the line above)")
            continue
        us = 1e6 * secs / primary["events"]
        print(f"  {label:<42} {us:7.1f} us  {100 * secs / primary['seconds']:5.1f}%")
    print(f"  {'= wall time':<42} {1e6 * primary['seconds'] / primary['events']:7.1f} us  100.0%")
    print(
        "cpu = this process's user+sys CPU time (all threads, incl. the Kafka client's) / wall time, and"
        " per event: the figure least moved by other load on the machine; MiB/s counts value bytes only"
    )


if __name__ == "__main__":
    sys.exit(main())
