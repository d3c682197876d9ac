"""The relay's side of Kafka: a batch of outbox rows sent with acks=all, and only then marked."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator
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
        # kafka-python 2.x keeps that promise with one request in flight per broker (it refuses
        # more): a request carries whole batches, one per partition, so the relay loses little.
        "acks": "all",
        "enable_idempotence": True,
        "retries": 2**31 - 1,
        "max_in_flight_requests_per_connection": 1,
        # send() returns or raises within SEND_TIMEOUT_SECONDS (KafkaTransport.send), a frozen
        # broker included: a request unanswered for 10 s is retried, a record still unacked after
        # the delivery timeout fails, and send() blocks on metadata or a full buffer 10 s at most.
        "delivery_timeout_ms": SEND_TIMEOUT_SECONDS * 1000,
        "request_timeout_ms": 10_000,
        "max_block_ms": 10_000,
        # Reconnect within a second of the broker's return (the default backoff grows to 30 s).
        "reconnect_backoff_ms": 100,
        "reconnect_backoff_max_ms": 1_000,
        # A new producer (the relay makes one after a failure) gives up on a broker that does not
        # answer its first request (the API versions) after 10 s.
        "api_version_auto_timeout_ms": 10_000,
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

    # send() touches no database and the producer is thread-safe: the relay may send one batch
    # from a helper thread while it marks the previous one and reads the next (Relay.pipelined).
    pipelined = True
    # The broker keeps what it acknowledged: the outbox need not (Relay.delete_published).
    keeps_events = True

    def __init__(self, bootstrap_servers: list[str]):
        self.bootstrap_servers = bootstrap_servers
        self._producer: Any = None  # kafka.KafkaProducer, made on first use

    @property
    def producer(self) -> Any:
        if self._producer is None:
            self._producer = new_producer(self.bootstrap_servers)
        return self._producer

    def send(self, messages: list[Message]) -> None:
        """Send the batch and wait for every acknowledgement; raise if any record failed (the
        relay then leaves the whole batch unpublished and sends it again). Returns or raises
        within SEND_TIMEOUT_SECONDS, whatever the broker does (a broker frozen by SIGSTOP keeps
        its sockets open and answers nothing)."""
        deadline = time.monotonic() + SEND_TIMEOUT_SECONDS
        try:
            producer = self.producer
            topics: dict[str, str] = {}  # logical -> broker-side name, once per batch
            futures = []
            for message in messages:
                key, value, headers = message.to_kafka()
                if (topic := topics.get(message.topic)) is None:
                    topic = topics[message.topic] = kafka_name(message.topic)
                futures.append(producer.send(topic, key=key, value=value, headers=headers))
            # Not flush(timeout): kafka-python waits up to `timeout` for EACH batch in turn (one
            # per partition), so a frozen broker held a relay 65 s in a 30 s send. The batches
            # go out now (_sending_now); one deadline bounds the wait for all of them.
            with _sending_now(producer):
                for future in futures:
                    if not future.is_done:  # most are by then: acks come a batch at a time
                        future.get(timeout=max(0.0, deadline - time.monotonic()))
                    elif future.failed():
                        raise future.exception
        except Exception:
            # A producer that failed mid-batch may hold half-sent state: start afresh next time.
            self._abandon()
            raise

    def reachable(self) -> bool:
        """Whether the broker answers now (a fresh client): tells an outage from a bug."""
        from events.transports.kafka.admin import broker_reachable

        return broker_reachable()

    def _abandon(self) -> None:
        """Drop the producer without waiting for the broker: its unacknowledged records fail
        (the relay sends their rows again). close(timeout) cannot do that: it flushes first,
        waiting for each batch in turn, and raises, leaving the producer open, when a frozen
        broker never completes them."""
        producer, self._producer = self._producer, None
        if producer is not None:
            _discard(producer)

    def close(self) -> None:
        """Close after the records in flight (5 s at most), else drop them."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=5)
        except Exception as exc:
            log.warning("closing the Kafka producer failed, dropping its pending records: %s", exc)
            _discard(producer)


def new_producer(bootstrap_servers: list[str]) -> Any:
    """A kafka.KafkaProducer with producer_config(), whose force-close works (_discard)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**producer_config(bootstrap_servers))
    accumulator = producer._accumulator
    accumulator._abort_batches = functools.partial(_abort_batches, accumulator)
    return producer


def _abort_batches(accumulator: Any, error: Exception) -> None:
    """RecordAccumulator._abort_batches of kafka-python 2.3.3, which a force-close runs: it
    removed each incomplete batch from its partition's queue, and a batch already sent (in flight
    to a frozen broker: the case a force-close is for) is in no queue any more. The ValueError
    ended the sender thread before it failed the records, and send() waited out its deadline.
    Here a batch sent is aborted too, and one already done is left as it is."""
    for batch in accumulator._incomplete.all():
        with accumulator._tp_lock(batch.topic_partition):
            batch.records.close()
            with contextlib.suppress(ValueError):  # sent already: in no queue
                accumulator._batches[batch.topic_partition].remove(batch)
        if not batch.is_done:
            batch.abort(error)
        accumulator.deallocate(batch)


@contextlib.contextmanager
def _sending_now(producer: Any) -> Iterator[None]:
    """Make the records already sent ready to go at once, while the block waits for their acks:
    the first half of KafkaProducer.flush(), without its wait (see send()). The relay waits for
    every ack right after its last record, so lingering (linger_ms) after that record only adds
    latency and, for the one record of a quiet wake-up, a second turn of the sender thread.
    linger_ms still batches the records of a big batch while they are being appended."""
    # kafka-python (pinned) has no public "send now": flush() is begin_flush(), a wake-up of the
    # sender thread, and a wait that ends the flush; a flush in progress makes every batch ready.
    accumulator = producer._accumulator
    accumulator.begin_flush()
    try:
        producer._sender.wakeup()
        yield
    finally:
        accumulator._flushes_in_progress.decrement()


def _discard(producer: Any) -> None:
    # kafka-python (pinned) has no public force-close: its sender thread aborts every pending
    # batch and exits on force_close(); close(timeout=0) then finds nothing left to wait for.
    sender = getattr(producer, "_sender", None)
    try:
        if sender is not None:
            sender.force_close()
            sender.join(2)
        producer.close(timeout=0)
    except Exception as exc:
        log.warning("dropping the Kafka producer failed: %s", exc)
