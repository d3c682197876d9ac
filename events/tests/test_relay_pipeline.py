"""The relay draining a busy outbox with the database work beside the sends (Relay.pipelined):
the same guarantees as sending and marking in turn."""

import itertools
import threading

import pytest
from django.db import transaction

from events import publish
from events.models import OutboxEvent
from events.outbox import relay as relay_module
from events.outbox.relay import Relay
from events.transports import Message
from events.transports.kafka.producer import KafkaTransport
from events.transports.local import LocalTransport

pytestmark = pytest.mark.django_db(databases=["orders"])

REJECTED = "shop.orders.order_rejected.v1"


def publish_rows(n: int) -> list[int]:
    with transaction.atomic(using="orders"):
        for order_id in range(1, n + 1):
            publish(REJECTED, key=order_id, data={"order_id": order_id, "reason": "x"}, using="orders")
    return list(OutboxEvent.objects.using("orders").order_by("id").values_list("id", flat=True))


def unpublished() -> list[int]:
    rows = OutboxEvent.objects.using("orders").filter(published_at__isnull=True).order_by("id")
    return list(rows.values_list("id", flat=True))


class PipelinedTransport:
    """Sends from the relay's helper thread, as the Kafka transport does; logs what happens, in
    order, with the relay's marks (see `journal`); fails its `fail_batch`-th send (1-based).
    `overlap`: acknowledge a batch only once the previous one is marked, which the relay does
    while this one is in flight (a relay that marked N only after N+1's ack would stall here)."""

    pipelined = True

    def __init__(self, fail_batch: int | None = None, on_send=None, overlap: bool = False):
        self.events: list[tuple[str, list[str]]] = []
        self.changed = threading.Condition()
        self.batches = 0
        self.fail_batch = fail_batch
        self.on_send = on_send
        self.overlap = overlap

    def log(self, what: str, ids: list) -> None:
        with self.changed:
            self.events.append((what, list(ids)))
            self.changed.notify_all()

    def logged(self, what: str, count: int) -> bool:
        """Wait (5 s at most) until `what` was logged `count` times."""
        with self.changed:
            return self.changed.wait_for(lambda: sum(w == what for w, _ in self.events) >= count, 5)

    def send(self, messages: list[Message]) -> None:
        self.batches += 1
        ids = [m.attributes["subject"] for m in messages]
        self.log("send", ids)
        if self.on_send:
            self.on_send(self.batches)
        if self.overlap:
            self.logged("marked", self.batches - 1)
        if self.batches == self.fail_batch:
            self.log("failed", ids)
            raise ConnectionError("broker unreachable")
        self.log("acked", ids)

    def close(self) -> None:
        pass


@pytest.fixture
def journal(monkeypatch):
    """journal(transport): log the relay's marks into the transport's journal (by key, as the
    sends are). With the transport's `overlap`, a mark of batch N waits (5 s at most) until batch
    N+1 was handed to the transport when more rows wait: what makes "marked while the next batch
    is in flight" observable."""
    transports: list[PipelinedTransport] = []

    def marking(alias, ids):
        rows = OutboxEvent.objects.using(alias).order_by("id")
        keys = list(rows.filter(id__in=ids).values_list("key", flat=True))
        transport = transports[0]
        if transport.overlap and rows.filter(published_at__isnull=True, id__gt=max(ids)).exists():
            marks = sum(what == "marked" for what, _ in transport.events)
            transport.logged("send", marks + 2)
        mark(alias, ids)
        transport.log("marked", keys)

    mark = relay_module.mark_published
    monkeypatch.setattr(relay_module, "mark_published", marking)
    return transports.append


def index(events, what, ids):
    return events.index((what, ids))


def test_a_busy_outbox_is_sent_in_order_each_batch_marked_after_its_ack_while_the_next_is_in_flight(journal):
    publish_rows(7)
    transport = PipelinedTransport(overlap=True)
    journal(transport)
    assert Relay("orders", transport, batch_size=2).relay_pending() == 7
    sends = [ids for what, ids in transport.events if what == "send"]
    assert sends == [["1", "2"], ["3", "4"], ["5", "6"], ["7"]]  # in commit order, nothing twice
    events = transport.events
    for batch, following in itertools.pairwise(sends):
        assert index(events, "acked", batch) < index(events, "send", following)  # N acked before N+1 sent
        assert index(events, "acked", batch) < index(events, "marked", batch)  # marked after its ack
        # ... and marked while N+1 was in flight: the database work overlaps the sends.
        assert (
            index(events, "send", following)
            < index(events, "marked", batch)
            < index(events, "acked", following)
        )
    assert unpublished() == []


def test_a_failed_send_in_a_busy_outbox_leaves_that_batch_and_the_rest_unmarked_then_resends_them_in_order(
    journal,
):
    ids = publish_rows(7)
    transport = PipelinedTransport(fail_batch=3)
    journal(transport)
    relay = Relay("orders", transport, batch_size=2)
    with pytest.raises(ConnectionError):
        relay.relay_pending()
    assert unpublished() == ids[4:]  # batches 1 and 2 acked and marked; 3 failed; 4 never sent
    assert [ids for what, ids in transport.events if what == "send"] == [["1", "2"], ["3", "4"], ["5", "6"]]

    transport.events.clear()
    transport.fail_batch = None
    assert relay.relay_pending() == 3
    assert [ids for what, ids in transport.events if what == "send"] == [["5", "6"], ["7"]]
    assert unpublished() == []


def test_a_stop_request_in_a_busy_outbox_ends_after_the_batch_in_flight(journal):
    ids = publish_rows(7)
    stop = threading.Event()
    transport = PipelinedTransport(on_send=lambda batch: batch == 2 and stop.set())
    journal(transport)
    assert Relay("orders", transport, batch_size=2).relay_pending(stop) == 4
    assert [ids for what, ids in transport.events if what == "send"] == [["1", "2"], ["3", "4"]]
    assert unpublished() == ids[4:]


def test_a_row_committed_late_below_the_next_batch_is_sent_by_the_next_pass(journal):
    ids = publish_rows(6)
    late = OutboxEvent.objects.using("orders").filter(id=ids[1])
    late.update(published_at="2000-01-01T00:00:00Z")  # not visible yet: its transaction is open
    transport = PipelinedTransport()
    journal(transport)
    relay = Relay("orders", transport, batch_size=2)
    # Row 2 "commits" once the first batch ([1, 3]) is out: the next batch is read past id 3.
    first = relay.relay_pending(on_batch=lambda: late.update(published_at=None))
    assert first == 5
    assert unpublished() == [ids[1]]  # not lost: waiting for the next pass, which sends it
    assert relay.relay_pending() == 1
    assert [ids for what, ids in transport.events if what == "send"][-1] == ["2"]
    assert unpublished() == []


def test_with_no_retention_each_acknowledged_batch_is_deleted_and_a_failed_one_waits(settings):
    """EVENTS_OUTBOX_RETENTION_HOURS=0 with a broker that keeps the events (Kafka): a row
    acknowledged is deleted instead of marked; what was not acknowledged stays, unpublished."""
    settings.EVENTS = {**settings.EVENTS, "OUTBOX_RETENTION_HOURS": 0}
    ids = publish_rows(7)
    transport = PipelinedTransport(fail_batch=3)
    transport.keeps_events = True
    relay = Relay("orders", transport, batch_size=2)
    with pytest.raises(ConnectionError):
        relay.relay_pending()
    rows = OutboxEvent.objects.using("orders").order_by("id")
    assert list(rows.values_list("id", "published_at")) == [(i, None) for i in ids[4:]]

    transport.fail_batch = None
    assert relay.relay_pending() == 3
    assert not rows.exists()
    assert KafkaTransport.keeps_events


def test_with_no_retention_a_transport_that_is_not_a_log_keeps_its_rows_marked(settings):
    """The local transport keeps no events: there the outbox is the log, and stays whole."""
    settings.EVENTS = {**settings.EVENTS, "OUTBOX_RETENTION_HOURS": 0}
    ids = publish_rows(3)
    assert not getattr(LocalTransport, "keeps_events", False)
    assert Relay("orders", PipelinedTransport(), batch_size=2).relay_pending() == 3
    published = OutboxEvent.objects.using("orders").filter(published_at__isnull=False)
    assert list(published.order_by("id").values_list("id", flat=True)) == ids
