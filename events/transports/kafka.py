"""Kafka transport (kafka-python): the relay's producer side and the consumers' runtime.

Records are CloudEvents in binary content mode: `ce_*` headers plus `traceparent`, the value is
the event data, the key is the aggregate id, so all events of one aggregate land in one
partition, in order. Topics are created by `manage.py ensure_topics`, never by auto-creation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings

from events import faults, metrics
from events.consumer import Outcome, apply_batch, deliver
from events.envelope import EnvelopeError, Event
from events.registry import all_handlers
from events.schemas import topic_for
from events.transports import Message
from shop.topology import service_for_alias

log = logging.getLogger(__name__)

# Long enough to ride out a broker restart inside one send(); the relay retries after that.
SEND_TIMEOUT_SECONDS = 30
DEAD_LETTER_TOPIC = "shop.deadletter.{service}"


def kafka_name(name: str) -> str:
    """The broker-side name of a topic or consumer group: the logical name in EVENTS_NAMESPACE."""
    return settings.EVENTS["NAMESPACE"] + name


def producer_config(bootstrap_servers: list[str]) -> dict:
    return {
        "bootstrap_servers": bootstrap_servers,
        "client_id": "shop-relay",
        # acks=all + idempotence: an acknowledged record is on every in-sync replica, and the
        # producer's own retries neither duplicate nor reorder records within a partition.
        "acks": "all",
        "enable_idempotence": True,
        "retries": 2**31 - 1,
        "max_in_flight_requests_per_connection": 5,
        "delivery_timeout_ms": SEND_TIMEOUT_SECONDS * 1000,
        "request_timeout_ms": 10_000,
        "max_block_ms": 10_000,
        # Batching and compression are where relay throughput comes from.
        "linger_ms": 2,
        "batch_size": 256 * 1024,
        "compression_type": "lz4",
    }


class KafkaTransport:
    def __init__(self, bootstrap_servers: list[str]):
        self.bootstrap_servers = bootstrap_servers
        self._producer = None

    @property
    def producer(self):
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(**producer_config(self.bootstrap_servers))
        return self._producer

    def send(self, messages: list[Message]) -> None:
        """Send the batch and wait for every acknowledgement; raise if any record failed (the
        relay then leaves the whole batch unpublished and sends it again)."""
        try:
            futures = []
            for message in messages:
                key, value, headers = message.to_kafka()
                topic = kafka_name(message.topic)
                futures.append(self.producer.send(topic, key=key, value=value, headers=headers))
            self.producer.flush(timeout=SEND_TIMEOUT_SECONDS)
            for future in futures:
                future.get(timeout=0)
        except Exception:
            # A producer that failed mid-batch may hold half-sent state: start afresh next time.
            self.close()
            raise

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception as exc:
                log.warning("closing the Kafka producer failed: %s", exc)
            self._producer = None


def broker_reachable(timeout_ms: int = 2000) -> bool:
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"],
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            client_id="shop-readyz",
        )
        try:
            admin.list_topics()
        finally:
            admin.close()
        return True
    except Exception:
        return False


def consumer_group(alias: str) -> str:
    """One consumer group per service database: `shop.<service>` for the handlers writing to
    the service's own database, `shop.<service>.<alias>` for those writing to another of its
    databases (orders_read, the read side). So a slow projection never holds up the saga, nor
    the saga the projection, and each side's lag is its group's lag."""
    service = service_for_alias(alias)
    suffix = "" if alias == service.aliases[0] else f".{alias}"
    return kafka_name(f"shop.{service.name}{suffix}")


def consumer_config(alias: str) -> dict:
    return {
        "bootstrap_servers": settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"],
        "group_id": consumer_group(alias),
        "client_id": f"shop-consumer-{alias}",
        "enable_auto_commit": False,  # offsets are committed after the database transaction
        "auto_offset_reset": "earliest",  # a new service reads every retained event
        # A fresh group starts consuming in about a second, and a dead member's partitions
        # move to a live one within the session timeout.
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        "max_poll_records": 200,
        "fetch_max_wait_ms": 100,
        "metadata_max_age_ms": 30_000,
        "max_poll_interval_ms": 300_000,
    }


class KafkaConsumerRuntime:
    """The consumer of one service database: poll, apply each record to the handlers writing to
    that database (inbox, retries, dead letters: events.consumer), then commit the offsets of
    what was applied.

    A crash between a database commit and the offset commit redelivers those records; the
    inbox turns the redelivery into a no-op, so effects happen exactly once.
    """

    def __init__(self, alias: str, *, on_batch: Callable[[int], None] | None = None):
        from kafka import KafkaConsumer

        self.alias = alias
        self.service = service_for_alias(alias).name
        self.handlers = [h for h in all_handlers([self.service]) if h.alias == alias]
        self.topics = sorted({topic_for(h.event_type) for h in self.handlers})
        if not self.topics:
            raise ValueError(f"no event handlers write to database {alias!r}")
        self.consumer = KafkaConsumer(*[kafka_name(t) for t in self.topics], **consumer_config(alias))
        self.on_batch = on_batch
        self._dead_letters = None
        self.last_progress = time.monotonic()  # end of the last loop turn: for liveness

    def run(self, stop: threading.Event) -> None:
        group = consumer_group(self.alias)
        log.info("consuming %s for database %s (group %s)", ", ".join(self.topics), self.alias, group)
        from kafka.errors import CommitFailedError, KafkaError

        try:
            while not stop.is_set():
                self.last_progress = time.monotonic()
                try:
                    self.poll_once()
                except CommitFailedError as exc:
                    # The group rebalanced (e.g. after a broker outage) while we held records: they
                    # were applied, but their offsets go uncommitted, so they come again and the
                    # inbox turns the repeat into a no-op. Keep consuming.
                    log.warning(
                        "offset commit failed after a rebalance, records will be redelivered: %s", exc
                    )
                except KafkaError as exc:
                    log.warning("Kafka unavailable, retrying: %s", exc)
                    stop.wait(1.0)
        finally:
            self.consumer.close(autocommit=False)
            if self._dead_letters is not None:
                self._dead_letters.close(timeout=5)

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Apply one poll's records, then commit their offsets. The records' effects commit in one
        database transaction (events.consumer.apply_batch); if any of them fails, they are applied
        one by one instead, with retries and dead letters for the failing ones."""
        from kafka import OffsetAndMetadata

        batch = self.consumer.poll(timeout_ms=timeout_ms)
        records = [record for partition_records in batch.values() for record in partition_records]
        pairs = []
        for record in records:
            try:
                event = Event.from_kafka(record.value, record.headers)
            except EnvelopeError as exc:
                # Not even an event: nothing can apply it, so it goes straight to the DLT.
                log.error(
                    "unreadable record %s/%d@%d: %s", record.topic, record.partition, record.offset, exc
                )
                self._to_dead_letter_topic(record, str(exc), handler="-")
                continue
            pairs += [(event, h, record) for h in self.handlers if h.event_type == event.type]
        if pairs and apply_batch([(e, h) for e, h, _ in pairs], self.alias) is None:
            for event, handler, record in pairs:
                if deliver(event, handler) is Outcome.PARKED:
                    self._to_dead_letter_topic(record, f"parked by {handler.name}", handler=handler.name)
        if records:
            faults.point("consumer.applied_before_offset_commit")
            # One commit per poll, after the database commit: a crash in between redoes this
            # poll's records, and the inbox turns each of them into a no-op.
            self.consumer.commit(
                {
                    partition: OffsetAndMetadata(partition_records[-1].offset + 1, "", -1)
                    for partition, partition_records in batch.items()
                }
            )
            if self.on_batch:
                self.on_batch(len(records))
        self._record_lag()
        return len(records)

    def _to_dead_letter_topic(self, record, error: str, *, handler: str) -> None:
        """Copy the record, original headers included, to this service's dead letter topic.
        The parked row in the service's database (if the event was readable) is what gets
        replayed; the topic lets operators and tooling see every failure, even unreadable ones."""
        from kafka import KafkaProducer

        if self._dead_letters is None:
            self._dead_letters = KafkaProducer(**producer_config(settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"]))
        headers = [
            *(record.headers or []),
            ("dlt_error", error.encode()[:4000]),
            ("dlt_handler", handler.encode()),
            ("dlt_group", consumer_group(self.alias).encode()),
            ("dlt_origin", f"{record.topic}/{record.partition}@{record.offset}".encode()),
        ]
        topic = kafka_name(DEAD_LETTER_TOPIC.format(service=self.service))
        self._dead_letters.send(topic, key=record.key, value=record.value, headers=headers).get(
            timeout=SEND_TIMEOUT_SECONDS
        )

    def _record_lag(self) -> None:
        try:
            for partition in self.consumer.assignment():
                highwater = self.consumer.highwater(partition)
                position = self.consumer.position(partition)
                if highwater is not None and position is not None:
                    metrics.CONSUMER_LAG.labels(
                        consumer_group(self.alias), partition.topic, partition.partition
                    ).set(highwater - position)
        except Exception:  # lag is best-effort telemetry
            pass


def group_lag(alias: str, topics: list[str]) -> tuple[int, float]:
    """(records on `topics` not yet committed by the consumer group of database `alias`, age in
    seconds of the oldest of them, or 0.0). The age is read from the first uncommitted record."""
    import time

    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    group = consumer_group(alias)
    servers = settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"]
    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="shop-lag", bootstrap_timeout_ms=5000)
    consumer = KafkaConsumer(
        bootstrap_servers=servers, group_id=None, enable_auto_commit=False, client_id="shop-lag"
    )
    try:
        committed = admin.list_group_offsets(group).get(group, {})
        partitions = [
            TopicPartition(kafka_name(t), p)
            for t in topics
            for p in consumer.partitions_for_topic(kafka_name(t)) or ()
        ]
        ends = consumer.end_offsets(partitions)
        behind, oldest_ms = 0, None
        for tp in partitions:
            position = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0
            if ends[tp] > position:
                behind += ends[tp] - position
                consumer.assign([tp])
                consumer.seek(tp, position)
                for records in consumer.poll(timeout_ms=2000, max_records=1).values():
                    first = records[0].timestamp
                    oldest_ms = first if oldest_ms is None else min(oldest_ms, first)
        age = max(0.0, time.time() - oldest_ms / 1000) if oldest_ms else 0.0
        return behind, age
    finally:
        consumer.close()
        admin.close()


# --- offsets: what a drain waits for and what the event history sets --------------------------------


def end_offsets(topics: list[str]) -> dict:
    """{TopicPartition: offset the next record will get} of every partition of `topics` (logical
    names): the end of the log right now."""
    from kafka import KafkaConsumer, TopicPartition

    servers = settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"]
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, client_id="shop-offsets")
    try:
        partitions = [
            TopicPartition(kafka_name(t), p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(kafka_name(t)) or ())
        ]
        return consumer.end_offsets(partitions) if partitions else {}
    finally:
        consumer.close()


def committed_offsets(group: str, partitions: list) -> dict:
    """{TopicPartition: offset} committed by consumer group `group` (broker name) on each of
    `partitions`; a partition it never committed is absent."""
    admin = _offsets_admin()
    try:
        offsets = _retrying(lambda: admin.list_group_offsets({group: list(partitions)})).get(group, {})
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset is not None and meta.offset >= 0}


def commit_offsets(group: str, offsets: dict) -> None:
    """Set consumer group `group`'s committed offsets (the group must have no running member).
    Raises if the broker refused any partition."""
    from kafka import OffsetAndMetadata
    from kafka.errors import NoError

    admin = _offsets_admin()
    try:
        result = _retrying(
            lambda: admin.alter_group_offsets(
                group, {tp: OffsetAndMetadata(offset, "", None) for tp, offset in offsets.items()}
            )
        )
    finally:
        admin.close()
    refused = {
        f"{tp.topic}/{tp.partition}": error.__name__ for tp, error in result.items() if error is not NoError
    }
    if refused:
        raise RuntimeError(f"the broker refused offsets of group {group}: {refused}")


def _offsets_admin():
    from kafka import KafkaAdminClient

    servers = settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"]
    return KafkaAdminClient(bootstrap_servers=servers, client_id="shop-offsets", bootstrap_timeout_ms=5000)


def _retrying(call, timeout: float = 30.0):
    """call() again while it fails with a retriable error (a new broker creates its offsets topic,
    and so the group coordinator, on first use)."""
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaError as exc:
            if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
