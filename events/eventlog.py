"""Reading the event log from the beginning — what projections are rebuilt from.

With Kafka the log is the topics themselves (created with unlimited retention by ensure_topics).
With the local transport (the monolith) it is the outbox tables of the databases this process
serves; that is why published rows are not pruned there (events/tasks.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from events.envelope import EnvelopeError, Event
from events.models import OutboxEvent
from events.settings import events_settings


class EventLog:
    """Every event ever published on `topics`, up to the end as it was when reading started.
    Events published while reading are not included: a live consumer applies those."""

    def __init__(self, topics: list[str]):
        self.topics = topics

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Event]:
        raise NotImplementedError


class OutboxLog(EventLog):
    def __init__(self, topics: list[str], aliases: list[str] | None = None):
        super().__init__(topics)
        self.aliases = aliases or events_settings.served_databases()
        self._end = {
            a: OutboxEvent.objects.using(a).order_by("-id").values_list("id", flat=True).first() or 0
            for a in self.aliases
        }

    def _rows(self, alias: str) -> QuerySet[OutboxEvent]:
        return OutboxEvent.objects.using(alias).filter(topic__in=self.topics, id__lte=self._end[alias])

    def __len__(self) -> int:
        return sum(self._rows(a).count() for a in self.aliases)

    def __iter__(self) -> Iterator[Event]:
        for alias in self.aliases:
            for envelope in (
                self._rows(alias).order_by("id").values_list("envelope", flat=True).iterator(2000)
            ):
                yield Event.from_dict(envelope)


class KafkaLog(EventLog):
    """Reads each partition from its first offset to the end offset seen at the start, with a
    consumer that belongs to no group (so it neither commits nor disturbs live consumers)."""

    def __init__(self, topics: list[str]):
        from kafka import KafkaConsumer, TopicPartition

        from events.transports.kafka import MAX_RESPONSE_BYTES, client_id, kafka_name

        super().__init__(topics)
        self.consumer = KafkaConsumer(
            bootstrap_servers=events_settings.KAFKA_BOOTSTRAP_SERVERS,
            group_id=None,
            enable_auto_commit=False,
            client_id=client_id("event-log"),
            receive_message_max_bytes=MAX_RESPONSE_BYTES,
        )
        self.partitions = [
            TopicPartition(kafka_name(t), p)
            for t in topics
            for p in sorted(self.consumer.partitions_for_topic(kafka_name(t)) or ())
        ]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self._start = {tp: self.consumer.position(tp) for tp in self.partitions}
        self._end = self.consumer.end_offsets(self.partitions)

    def __len__(self) -> int:
        return sum(self._end[tp] - self._start[tp] for tp in self.partitions)

    def __iter__(self) -> Iterator[Event]:
        remaining = {tp for tp in self.partitions if self._end[tp] > self._start[tp]}
        try:
            while remaining:
                for tp, records in self.consumer.poll(timeout_ms=1000).items():
                    for record in records:
                        if record.offset >= self._end[tp]:
                            break
                        try:
                            yield Event.from_kafka(record.value, record.headers)
                        except EnvelopeError:
                            continue  # unreadable records were dead-lettered when first consumed
                    if self.consumer.position(tp) >= self._end[tp]:
                        remaining.discard(tp)
                        self.consumer.pause(tp)
        finally:
            self.consumer.close()


def event_log(topics: list[str]) -> EventLog:
    """The log of the configured transport: the Kafka topics, or (local) the outbox tables."""
    if events_settings.TRANSPORT == "kafka":
        return KafkaLog(topics)
    return OutboxLog(topics)
