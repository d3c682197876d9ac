"""The consumers' side of Kafka: one consumer group per service database, each poll applied in one
database transaction with its inbox rows (events.inbox), offsets committed after it, and every
record that could not be applied copied to the service's dead letter topic.

A crash between a database commit and the offset commit redelivers those records; the inbox
turns the redelivery into a no-op, so effects happen exactly once. That is also why offsets need
not be committed after every poll: they are committed at most every COMMIT_SECONDS while records
keep coming, at once when a poll comes back empty (so a consumer at rest has committed all it
applied), before its partitions move to another consumer, and on shutdown. A crash redelivers
at most COMMIT_SECONDS' worth of records, each a no-op; an offset commit is a broker round trip
that cost as much CPU as applying a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from events import faults, heartbeat, metrics
from events.envelope import EnvelopeError, Event
from events.inbox.apply import Outcome, apply_batch
from events.inbox.deliver import deliver
from events.outage import DatabaseUnavailable, Outage, database_reachable, reset_connection
from events.registry import all_handlers
from events.schemas import topic_for
from events.settings import events_settings
from events.transports.kafka import MAX_RESPONSE_BYTES, client_id, dead_letter_topic, kafka_name
from events.transports.kafka.admin import broker_reachable, group_lag
from events.transports.kafka.producer import SEND_TIMEOUT_SECONDS, new_producer

log = logging.getLogger(__name__)

# The longest applied records wait for their offsets to be committed while records keep coming.
COMMIT_SECONDS = 1.0
# How often the consumer-lag gauge is refreshed (it is read by the scraper, not by the code).
LAG_SECONDS = 5.0
# A broker that stopped answering must not hold the loop in an offset commit.
COMMIT_TIMEOUT_MS = 15_000
# The longest one poll waits for records. It returns as soon as one comes, so this is not a delay:
# only how often an idle loop turns (each turn costs CPU: 500 ms was twice an idle consumer's),
# and how long a stop waits for the poll under way.
POLL_TIMEOUT_MS = 2_000


def consumer_group(alias: str) -> str:
    """One consumer group per service database: `<NAME>.<service>` for the handlers writing to
    the service's own database, `<NAME>.<service>.<alias>` for those writing to another of its
    databases (e.g. a read side's). So a slow projection never holds up the saga, nor
    the saga the projection, and each side's lag is its group's lag."""
    suffix = "" if events_settings.is_own_database(alias) else f".{alias}"
    return kafka_name(f"{events_settings.NAME}.{events_settings.service_of(alias)}{suffix}")


def consumer_config(alias: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": events_settings.KAFKA_BOOTSTRAP_SERVERS,
        "group_id": consumer_group(alias),
        "client_id": client_id(f"consumer-{alias}"),
        "enable_auto_commit": False,  # offsets are committed after the database transaction
        "auto_offset_reset": "earliest",  # a new service reads every retained event
        # A fresh group starts consuming in about a second, and a dead member's partitions
        # move to a live one within the session timeout.
        "session_timeout_ms": 10_000,
        # A third of the session timeout (Kafka's advice): a member learns of a rebalance
        # within 2 s; a heartbeat a second was about a quarter of an idle consumer's CPU.
        "heartbeat_interval_ms": 2_000,
        "max_poll_records": 200,
        # How long the broker holds a fetch that finds nothing new. It answers as soon as a record
        # arrives (fetch_min_bytes 1), so this is not a delay: only how often an idle consumer
        # wakes up to ask again (issue 14: at rest under 1% of a core, two groups per process).
        "fetch_max_wait_ms": 2_000,
        "metadata_max_age_ms": 30_000,
        # While this database is out, a poll's records wait and the loop polls them again after
        # each backoff (at most 5 s): membership is kept; 5 minutes between polls is a bug.
        "max_poll_interval_ms": 300_000,
        # Back within seconds of the broker: kafka-python's reconnect backoff grows to 30 s by
        # default, so consumers rejoined ~50 s after a broker restart. 100 ms doubling to 1 s is a
        # connection attempt a second per consumer while it is down: nothing for a broker.
        "reconnect_backoff_ms": 100,
        "reconnect_backoff_max_ms": 1_000,
        # A request to a frozen broker (SIGSTOP, a long GC pause) fails after 11 s instead of 305,
        # and the coordinator is looked up again; kafka-python wants it above fetch_max_wait_ms
        # and session_timeout_ms.
        "request_timeout_ms": 11_000,
        # The largest response accepted (MAX_RESPONSE_BYTES): a fetch may return up to 50 MB.
        "receive_message_max_bytes": MAX_RESPONSE_BYTES,
        # kafka-python's own client metrics (sensors on every request): this library keeps its
        # own (events.metrics) and reads none of them.
        "metrics_enabled": False,
    }


class KafkaConsumerRuntime:
    """The consumer of one service database: poll, apply each record to the handlers writing to
    that database (inbox, retries, dead letters: events.inbox), then commit the offsets of
    what was applied.

    A crash between a database commit and the offset commit redelivers those records; the
    inbox turns the redelivery into a no-op, so effects happen exactly once.
    """

    def __init__(self, alias: str, *, on_batch: Callable[[int], None] | None = None):
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        self.alias = alias
        self.service = events_settings.service_of(alias)
        self.handlers = [h for h in all_handlers([self.service]) if h.alias == alias]
        self.topics = sorted({topic_for(h.event_type) for h in self.handlers})
        if not self.topics:
            raise ValueError(f"no event handlers write to database {alias!r}")
        self.consumer = KafkaConsumer(**consumer_config(alias))
        runtime = self

        class CommitBeforeRevoke(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                # The next owner starts after the last committed offset: commit what was applied.
                runtime.commit_applied(only=set(revoked))

            def on_partitions_assigned(self, assigned: Any) -> None:
                pass

        self.consumer.subscribe([kafka_name(t) for t in self.topics], listener=CommitBeforeRevoke())
        self.on_batch = on_batch
        self._dead_letters: Any = None  # a kafka.KafkaProducer, made on the first dead letter
        # TopicPartition -> OffsetAndMetadata of records applied whose offsets are not committed yet
        self._applied: dict[Any, Any] = {}
        self._committed_at = time.monotonic()
        self._lag_at = 0.0
        self.liveness = heartbeat.Liveness()  # read by consume_events' main thread

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop`. Rides out any outage of the broker or of this database: records
        not applied are polled again, after a backoff (events/outage.py), until it is back; the
        thread ends only on a bug outside both (the process then exits)."""
        group = consumer_group(self.alias)
        log.info("consuming %s for database %s (group %s)", ", ".join(self.topics), self.alias, group)
        from django.db import Error as DatabaseError
        from kafka.errors import CommitFailedError, KafkaError

        outage = Outage(f"consumer of {self.alias} (group {group})", log)
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                except CommitFailedError as exc:
                    # The group rebalanced (e.g. after a broker outage) while we held records: they
                    # were applied, but their offsets go uncommitted, so they come again and the
                    # inbox turns the repeat into a no-op. Keep consuming.
                    log.warning(
                        "offset commit failed after a rebalance, records will be redelivered: %s", exc
                    )
                except (KafkaError, DatabaseUnavailable, DatabaseError) as exc:
                    # Broker or database out (or restarting): the records wait, polled again.
                    reset_connection(self.alias)
                    self.liveness.failed(dependency_out=self._dependency_out(exc))
                    stop.wait(outage.failed(exc))
                    continue
                self.liveness.progressed()
                outage.recovered()
        finally:
            try:
                self.commit_applied()
            except Exception as exc:  # the broker is gone: the records come again, as no-ops
                log.warning("offsets of applied records not committed at shutdown: %s", exc)
            self.consumer.close(autocommit=False)
            if self._dead_letters is not None:
                self._dead_letters.close(timeout=5)

    def _dependency_out(self, exc: BaseException) -> bool:
        """Whether a failed turn is explained by an outage, asked afresh (events/outage.py)."""
        if isinstance(exc, DatabaseUnavailable):
            return True  # asked already
        return not database_reachable(self.alias) or not broker_reachable()

    def poll_once(self, timeout_ms: int = POLL_TIMEOUT_MS) -> int:
        """Apply one poll's records; their offsets are committed after them (commit_applied). The
        records' effects commit in one database transaction (events.inbox.apply.apply_batch); if
        any of them fails, they are applied one by one instead, with retries and dead letters for
        the failing ones. If they cannot be applied (this database is out) or their offsets not
        committed (the broker is), raises after rewinding to them: the next poll returns them
        again, rather than the records after them, whose offsets would cover them."""
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        try:
            return self._apply(batch)
        except Exception:
            assigned = self.consumer.assignment()
            for partition, partition_records in batch.items():
                if partition in assigned:
                    self.consumer.seek(partition, partition_records[0].offset)
            raise

    def _apply(self, batch: dict[Any, list[Any]]) -> int:
        from kafka import OffsetAndMetadata

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
            # Offsets only ever after the database commit: a crash in between redoes these
            # records, and the inbox turns each of them into a no-op.
            for partition, partition_records in batch.items():
                self._applied[partition] = OffsetAndMetadata(partition_records[-1].offset + 1, "", -1)
            if self.on_batch:
                self.on_batch(len(records))
        now = time.monotonic()
        if self._applied and (not records or now - self._committed_at >= COMMIT_SECONDS):
            self.commit_applied()
        if now - self._lag_at >= LAG_SECONDS:
            self._lag_at = now
            self._record_lag()
        return len(records)

    def commit_applied(self, only: set[Any] | None = None) -> None:
        """Commit the offsets of every applied record (of the partitions in `only`, if given)."""
        offsets = {tp: o for tp, o in self._applied.items() if only is None or tp in only}
        self._committed_at = time.monotonic()
        if not offsets:
            return
        for tp in offsets:
            del self._applied[tp]
        try:
            self.consumer.commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)
        except Exception:
            # Not committed (the broker is out): keep them for the next commit, or a consumer at
            # rest would leave them uncommitted (a lag that never goes) until a record came.
            assigned = self.consumer.assignment()
            for tp, offset in offsets.items():
                if tp in assigned:
                    self._applied.setdefault(tp, offset)
            raise

    def _to_dead_letter_topic(self, record: Any, error: str, *, handler: str) -> None:
        """Copy the record, original headers included, to this service's dead letter topic.
        The parked row in the service's database (if the event was readable) is what gets
        replayed; the topic lets operators and tooling see every failure, even unreadable ones."""
        if self._dead_letters is None:
            self._dead_letters = new_producer(events_settings.KAFKA_BOOTSTRAP_SERVERS)
        headers = [
            *(record.headers or []),
            ("dlt_error", error.encode()[:4000]),
            ("dlt_handler", handler.encode()),
            ("dlt_group", consumer_group(self.alias).encode()),
            ("dlt_origin", f"{record.topic}/{record.partition}@{record.offset}".encode()),
        ]
        topic = kafka_name(dead_letter_topic(self.service))
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


def consumer_lag(alias: str, topics: list[str]) -> tuple[int, float]:
    """(records on `topics` the consumer group of database `alias` has not committed yet, age in
    seconds of the oldest of them, or 0.0)."""
    return group_lag(consumer_group(alias), topics)
