"""Looking after the broker: creating the topics, checking it answers, a group's lag, and the
offsets a drain waits for and the event history sets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from events.schemas import event_types, topic_for
from events.settings import events_settings
from events.transports.kafka import MAX_RESPONSE_BYTES, client_id, dead_letter_topic, kafka_name


def ensure_topics(*, partitions: int, replication_factor: int) -> dict[str, bool]:
    """Create every event topic and every service's dead letter topic that does not exist yet,
    keeping events forever (retention.ms=-1: the event log projections are rebuilt from).
    Returns each broker-side topic name and whether it was created now."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    wanted = sorted({kafka_name(topic_for(t)) for t in event_types()})
    wanted += [kafka_name(dead_letter_topic(s)) for s in events_settings.services()]
    admin = KafkaAdminClient(
        bootstrap_servers=events_settings.KAFKA_BOOTSTRAP_SERVERS, client_id=client_id("ensure-topics")
    )
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(name, partitions, replication_factor, topic_configs={"retention.ms": "-1"})
            for name in wanted
            if name not in existing
        ]
        if new:
            admin.create_topics(new)
        return {name: name not in existing for name in wanted}
    finally:
        admin.close()


def broker_reachable(timeout_ms: int = 2000) -> bool:
    """Whether the broker answers a metadata request within `timeout_ms` (for readiness)."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=events_settings.KAFKA_BOOTSTRAP_SERVERS,
            request_timeout_ms=timeout_ms,
            api_version_auto_timeout_ms=timeout_ms,
            client_id=client_id("readyz"),
        )
        try:
            admin.list_topics()
        finally:
            admin.close()
        return True
    except Exception:
        return False


def group_lag(group: str, topics: list[str]) -> tuple[int, float]:
    """(records on `topics` not yet committed by consumer group `group` (broker-side name), age in
    seconds of the oldest of them, or 0.0). The age is read from the first uncommitted record."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    servers = events_settings.KAFKA_BOOTSTRAP_SERVERS
    admin = KafkaAdminClient(
        bootstrap_servers=servers, client_id=client_id("lag"), api_version_auto_timeout_ms=5000
    )
    consumer = KafkaConsumer(
        bootstrap_servers=servers,
        group_id=None,
        enable_auto_commit=False,
        client_id=client_id("lag"),
        receive_message_max_bytes=MAX_RESPONSE_BYTES,
    )
    try:
        # A new broker creates its offsets topic, and so the group coordinator, on first use.
        committed = _retrying(lambda: admin.list_consumer_group_offsets(group), timeout=10.0)
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

T = TypeVar("T")


def end_offsets(topics: list[str]) -> dict[Any, int]:
    """{TopicPartition: offset the next record will get} of every partition of `topics` (logical
    names): the end of the log right now."""
    from kafka import KafkaConsumer, TopicPartition

    servers = events_settings.KAFKA_BOOTSTRAP_SERVERS
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, client_id=client_id("offsets"))
    try:
        partitions = [
            TopicPartition(kafka_name(t), p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(kafka_name(t)) or ())
        ]
        return consumer.end_offsets(partitions) if partitions else {}
    finally:
        consumer.close()


def committed_offsets(group: str, partitions: list[Any]) -> dict[Any, int]:
    """{TopicPartition: offset} committed by consumer group `group` (broker name) on each of
    `partitions`; a partition it never committed is absent."""
    admin = _offsets_admin()
    try:
        offsets = _retrying(lambda: admin.list_consumer_group_offsets(group, partitions=list(partitions)))
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset is not None and meta.offset >= 0}


def commit_offsets(group: str, offsets: dict[Any, int]) -> None:
    """Set consumer group `group`'s committed offsets (the group must have no running member).
    Raises if the broker refused any partition."""
    from kafka import KafkaConsumer, OffsetAndMetadata

    # kafka-python 2.x's admin client cannot alter a group's offsets; a consumer of the group
    # that never joins it (no subscribe, no poll) commits them as the group's, which the broker
    # accepts while the group has no member, and raises on any partition it refuses.
    consumer = KafkaConsumer(
        bootstrap_servers=events_settings.KAFKA_BOOTSTRAP_SERVERS,
        group_id=group,
        enable_auto_commit=False,
        client_id=client_id("offsets"),
        api_version_auto_timeout_ms=5000,
    )
    try:
        # commit() itself waits for the coordinator and retries what is retriable, 30 s at most.
        consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}, timeout_ms=30_000)
    except Exception as exc:
        raise RuntimeError(f"the broker refused offsets of group {group}: {exc}") from exc
    finally:
        consumer.close(autocommit=False)


def _offsets_admin() -> Any:
    from kafka import KafkaAdminClient

    servers = events_settings.KAFKA_BOOTSTRAP_SERVERS
    return KafkaAdminClient(
        bootstrap_servers=servers, client_id=client_id("offsets"), api_version_auto_timeout_ms=5000
    )


def _retrying(call: Callable[[], T], timeout: float = 30.0) -> T:
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
