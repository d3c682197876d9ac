"""The relay's side of Kafka: a batch of outbox rows sent with acks=all, and only then marked."""

from __future__ import annotations

import logging
from typing import Any

from events.transports import Message
from events.transports.kafka import client_id, kafka_name

log = logging.getLogger(__name__)

# Long enough to ride out a broker restart inside one send(); the relay retries after that.
SEND_TIMEOUT_SECONDS = 30


def producer_config(bootstrap_servers: list[str]) -> dict[str, Any]:
    """The producer settings every record of this library is sent with."""
    return {
        "bootstrap_servers": bootstrap_servers,
        "client_id": client_id("relay"),
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
        # kafka-python's own client metrics (sensors on every request): this library keeps its
        # own (events.metrics) and reads none of them.
        "metrics_enabled": False,
    }


class KafkaTransport:
    """The relay's transport to Kafka: send() returns once the broker acknowledged every record."""

    def __init__(self, bootstrap_servers: list[str]):
        self.bootstrap_servers = bootstrap_servers
        self._producer: Any = None  # kafka.KafkaProducer, made on first use

    @property
    def producer(self) -> Any:
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
