#!/usr/bin/env python
"""The Kafka client's own CPU per order: the floor under saga_latency's `= this cluster, per order`.

    .venv/bin/python -m bench.kafka_floor [--rates 10,20] [--seconds 20] [--rest-seconds 10] [--size 600]

A benchmark, not a test: it prints figures. An order on Kafka is a few records sent by the relays
and each of them fetched by every consumer group whose topics hold it. This script measures what
kafka-python 3.x costs for exactly that, with none of our code around it, and adds it up per order:

1. which records an order makes: the happy path's events (order placed, stock reserved, order
   confirmed, shipment created), the relay that sends each (its service), and for each consumer
   group (one per service database with handlers, as `manage.py consume_events` runs them) the
   ones on its topics — all read from the registry and the schemas, so a new handler or topic
   changes the count here as it does in the cluster;
2. the producer: one record at a time at the rate that relay sends at, each sent, flushed and
   waited for, with the relay's producer settings (`run_client_trickle` from relay_throughput —
   what one relay wake-up asks of the client);
3. the consumer: a `KafkaConsumer(**consumer_config(alias))` in this process polling as the
   consumer runtime does (poll(500 ms), offsets committed after records at most every second and
   at once on an empty poll), fed by a separate process at the rate that group receives records,
   each record alone as at low order rates; its CPU (all threads: kafka-python's I/O thread too)
   net of its idle rate, measured first, per record;
4. prints one table per order rate and a `= the Kafka client alone, per order` line, next to the
   issue-14 targets, then deletes its topic and groups.

Every figure is the client alone: no database, no handler, no envelope decoding. No relay or
consumer built on kafka-python can cost less per order than this line; the rest of an order
(Postgres, the web, handlers, the relay's SELECT/UPDATE) comes on top of it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from bench.common import delete_topics, interpreter, markdown_table, setup_django

# The saga's happy path: what every confirmed, shipped order publishes on its way (orders/
# catalog/delivery handlers; tests/test_saga.py walks the same path).
HAPPY_PATH = (
    "shop.orders.order_placed.v1",
    "shop.catalog.stock_reserved.v1",
    "shop.orders.order_confirmed.v1",
    "shop.delivery.shipment_created.v1",
)
PARTITIONS = 6  # what `manage.py ensure_topics` creates by default
# The issue-14 targets for the whole cluster's CPU per order, by order rate.
TARGETS = {10: 50.0, 20: 40.0}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="10,20", help="order rates per second, comma separated")
    p.add_argument("--seconds", type=float, default=20, help="how long each measurement feeds records")
    p.add_argument("--rest-seconds", type=float, default=10, help="idle measurement before each consumer run")
    p.add_argument("--size", type=int, default=600, help="record value size in bytes (order_placed data)")
    args = p.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    return args


def records_per_order() -> tuple[Counter, dict[str, Counter]]:
    """(sends per order by the relaying service, {consumer group: records it fetches per order})
    from the registry: a group fetches every record on the topics its handlers subscribe to."""
    from events.registry import all_handlers
    from events.schemas import topic_for
    from events.settings import events_settings
    from events.transports.kafka.consumer import consumer_group

    sends = Counter(event_type.split(".")[1] for event_type in HAPPY_PATH)
    services = list(events_settings.services())
    fetched: dict[str, Counter] = {}
    for alias in sorted({h.alias for h in all_handlers(services)}):
        topics = {topic_for(h.event_type) for h in all_handlers(services) if h.alias == alias}
        fetched[consumer_group(alias)] = Counter(e for e in HAPPY_PATH if topic_for(e) in topics)
    return sends, fetched


def cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads: kafka-python's I/O thread too
    return usage.ru_utime + usage.ru_stime


def feed(config: dict, topic: str, records: list[tuple], rate: float) -> None:
    """In a process of its own (its CPU is not the consumer's): send `records` at `rate` a second."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**config)
    started = time.perf_counter()
    for i, (key, value, headers) in enumerate(records):
        if (delay := started + i / rate - time.perf_counter()) > 0:
            time.sleep(delay)
        producer.send(topic, key=key, value=value, headers=headers)
        producer.flush()
    producer.close(timeout=5)


def consumer_per_record(
    bootstrap: list[str], topic: str, group: str, records: list[tuple], rate: float, rest_seconds: float
) -> dict:
    """CPU per record of a consumer with the runtime's settings and poll/commit cadence
    (events/transports/kafka/consumer.py), net of its idle rate, while another process feeds it
    `records` at `rate` a second."""
    from kafka import KafkaConsumer, OffsetAndMetadata

    from events.transports.kafka.consumer import COMMIT_SECONDS, POLL_TIMEOUT_MS, consumer_config
    from events.transports.kafka.producer import producer_config

    config = {**consumer_config("orders"), "group_id": group}
    consumer = KafkaConsumer(**config)
    consumer.subscribe([topic])
    applied: dict = {}
    committed_at = time.monotonic()

    def poll_once() -> int:
        nonlocal committed_at
        batch = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        for partition, partition_records in batch.items():
            applied[partition] = OffsetAndMetadata(partition_records[-1].offset + 1, "", -1)
        now = time.monotonic()
        if applied and (not batch or now - committed_at >= COMMIT_SECONDS):
            consumer.commit(dict(applied))
            applied.clear()
            committed_at = now
        return sum(len(r) for r in batch.values())

    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:  # joined, partitions assigned
            poll_once()
        poll_until = time.monotonic() + 2
        while time.monotonic() < poll_until:  # caught up with whatever an earlier run left
            poll_once()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        rest_until = time.monotonic() + rest_seconds
        while time.monotonic() < rest_until:
            poll_once()
        rest = (cpu_seconds() - cpu0) / (time.perf_counter() - t0)

        feeder = multiprocessing.get_context("spawn").Process(
            target=feed, args=(producer_config(bootstrap), topic, records, rate)
        )
        cpu1, t1 = cpu_seconds(), time.perf_counter()
        feeder.start()
        seen, deadline = 0, time.monotonic() + len(records) / rate + 60
        while seen < len(records) and time.monotonic() < deadline:
            seen += poll_once()
        cpu2, t2 = cpu_seconds(), time.perf_counter()
        feeder.join(timeout=30)
        if feeder.is_alive():
            feeder.kill()
            feeder.join()
        if seen != len(records):
            print(f"  !! consumer saw {seen}/{len(records)} records")
        busy = cpu2 - cpu1 - rest * (t2 - t1)
        return {"per_record": busy / max(seen, 1), "rest": rest, "records": seen, "rate": rate}
    finally:
        consumer.close(autocommit=False)


def main() -> int:
    args = parse_args()
    interpreter()  # its speed, measured before the load; printed with the figures
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    namespace = f"bench-{uuid.uuid4().hex[:8]}."
    # Every service in this process (the registry then holds every handler), no database touched.
    setup_django(EVENTS_TRANSPORT="kafka", EVENTS_NAMESPACE=namespace, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    import logging

    logging.getLogger("kafka").setLevel(logging.ERROR)

    from bench.relay_throughput import create_topics, make_rows, run_client_trickle
    from events.envelope import Event

    servers = bootstrap.split(",")
    sends, fetched = records_per_order()
    topic = f"{namespace}floor"
    create_topics(servers, [topic], PARTITIONS)
    load = os.getloadavg()
    print(
        f"kafka_floor {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load[0]:.2f} {load[1]:.2f},"
        f" kafka-python {__import__('kafka').__version__}, {args.size} B values, {PARTITIONS} partitions"
    )
    print(f"python {interpreter()}")
    print(f"an order's records (happy path {', '.join(e.split('.')[2] for e in HAPPY_PATH)}):")
    print(f"  sent: {dict(sends)}; fetched per consumer group:")
    for group, events in fetched.items():
        names = ", ".join(e.split(".")[2] for e in events.elements())
        print(f"    {group.removeprefix(namespace)}: {sum(events.values())} ({names})")

    producer_cache: dict[float, dict] = {}
    consumer_cache: dict[float, dict] = {}
    groups: list[str] = []
    try:
        for order_rate in args.rates:
            rows_table = []
            total = 0.0
            for service, per_order in sorted(sends.items()):
                rate = order_rate * per_order
                if rate not in producer_cache:
                    rows = make_rows(max(1, int(rate * args.seconds)), args.size, first_order_id=1)
                    producer_cache[rate] = run_client_trickle(servers, topic, rows, rate)
                ms = 1000 * producer_cache[rate]["per_record"]
                total += ms * per_order
                rows_table.append(
                    [
                        f"relay of {service}: send",
                        per_order,
                        f"{rate:g}",
                        f"{ms:.2f}",
                        f"{ms * per_order:.1f}",
                        "",
                    ]
                )
            for group, events in fetched.items():
                per_order = sum(events.values())
                if not per_order:
                    continue
                rate = order_rate * per_order
                if rate not in consumer_cache:
                    rows = make_rows(max(1, int(rate * args.seconds)), args.size, first_order_id=1)
                    records = [Event.from_dict(json.loads(r[4])).to_kafka() for r in rows]
                    groups.append(f"{namespace}floor-{len(groups)}")
                    consumer_cache[rate] = consumer_per_record(
                        servers, topic, groups[-1], records, rate, args.rest_seconds
                    )
                result = consumer_cache[rate]
                ms = 1000 * result["per_record"]
                total += ms * per_order
                rows_table.append(
                    [
                        f"group {group.removeprefix(namespace)}: fetch",
                        per_order,
                        f"{rate:g}",
                        f"{ms:.2f}",
                        f"{ms * per_order:.1f}",
                        f"{100 * result['rest']:.2f}",
                    ]
                )
            print(f"\nat {order_rate:g} orders/s, CPU of kafka-python alone (ms):")
            header = [
                "client",
                "records per order",
                "records/s",
                "per record",
                "per order",
                "at rest, % of a core",
            ]
            print(markdown_table(header, rows_table, {1, 2, 3, 4, 5}))
            target = TARGETS.get(int(order_rate))
            beside = f"   (issue 14's target for the whole cluster: {target:.0f})" if target else ""
            print(f"  {'= the Kafka client alone, per order':44}{total:7.1f}{beside}")
    finally:
        delete_topics(servers, [topic], groups=groups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
