"""The Kafka transport (kafka-python).

  producer.py  the relay's side: KafkaTransport sends a batch with acks=all and idempotence
  consumer.py  the consumers' runtime: one consumer group per service database, a poll applied
               in one transaction (events.inbox), offsets committed after it, dead letter topic
  admin.py     topics (ensure_topics), whether the broker answers (readiness), a group's lag

Records are CloudEvents in binary content mode: `ce_*` headers plus `traceparent`, the value is
the event data, the key is the aggregate id, so all events of one aggregate land in one
partition, in order. Topics are created by `manage.py ensure_topics`, never by auto-creation.
Every topic and group name on the broker is kafka_name(logical name): EVENTS_NAMESPACE first.
"""

from __future__ import annotations

from events.settings import events_settings

# kafka-python 2.x refuses a response over 1 MB by default (receive_message_max_bytes) while a
# fetch may return up to fetch_max_bytes (50 MB): a consumer behind on big records would fail
# the same fetch forever. Every consumer of this library accepts what a fetch can return.
MAX_RESPONSE_BYTES = 100_000_000


def kafka_name(name: str) -> str:
    """The broker-side name of a topic or consumer group: the logical name in EVENTS_NAMESPACE."""
    return events_settings.NAMESPACE + name


def client_id(role: str) -> str:
    """The Kafka client id of one role (relay, consumer, admin tools): `<NAME>-<role>`."""
    return f"{events_settings.NAME}-{role}"


def dead_letter_topic(service: str) -> str:
    """The logical name of a service's dead letter topic."""
    return f"{events_settings.NAME}.deadletter.{service}"
