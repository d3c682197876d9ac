"""A database or the broker out for a while: the event loops wait and come back by themselves,
an outage is never mistaken for a failing handler, and liveness tells a stalled loop from one
waiting on a dependency. (The real thing — a Postgres restart, a broker killed or frozen under
load — is tests/split/test_infrastructure_faults.py.)"""

import logging
import threading
import time

import pytest
from django.db import OperationalError, transaction

from events import heartbeat, outage, publish
from events.envelope import Event
from events.inbox.apply import Outcome, apply_batch
from events.inbox.deliver import deliver
from events.models import DeadLetter, InboxEntry, OutboxEvent
from events.outage import DatabaseUnavailable, Outage
from events.outbox import relay
from events.registry import Handler
from events.transports import Message

pytestmark = pytest.mark.django_db(databases=["catalog", "orders"])

REJECTED = "shop.orders.order_rejected.v1"


def rejected(order_id=1) -> Event:
    return Event(
        type=REJECTED,
        source="/shop/orders",
        subject=str(order_id),
        data={"order_id": order_id, "reason": "x"},
    )


def handler_failing_with(exc: Exception, calls: list) -> Handler:
    def on_order_rejected(event):
        calls.append(event.id)
        raise exc

    return Handler(REJECTED, on_order_rejected, database="catalog")


@pytest.fixture
def database_out(monkeypatch):
    """Database `catalog` does not answer a fresh connection (as during a restart)."""
    monkeypatch.setattr(outage, "database_reachable", lambda alias: alias != "catalog")


def test_a_handler_whose_database_is_out_is_neither_retried_to_exhaustion_nor_parked(settings, database_out):
    settings.EVENTS = {**settings.EVENTS, "HANDLER_ATTEMPTS": 4, "HANDLER_BACKOFF_SECONDS": 0}
    calls = []
    handler = handler_failing_with(OperationalError("the connection is closed"), calls)

    with pytest.raises(DatabaseUnavailable, match="catalog"):
        deliver(rejected(), handler)
    assert len(calls) == 1  # no retries burnt while the server restarts
    assert not DeadLetter.objects.using("catalog").exists()
    assert not InboxEntry.objects.using("catalog").exists()  # the event waits, unapplied


def test_a_batch_whose_database_is_out_waits_whole_instead_of_going_one_by_one(database_out):
    calls = []
    handler = handler_failing_with(OperationalError("server closed the connection"), calls)
    with pytest.raises(DatabaseUnavailable):
        apply_batch([(rejected(1), handler), (rejected(2), handler)], "catalog")
    assert len(calls) == 1


def test_a_database_error_while_the_database_answers_is_the_handlers_and_is_retried_then_parked(settings):
    # A deadlock or a serialization failure is an OperationalError too, but the server answers.
    settings.EVENTS = {**settings.EVENTS, "HANDLER_ATTEMPTS": 3, "HANDLER_BACKOFF_SECONDS": 0}
    calls = []
    handler = handler_failing_with(OperationalError("deadlock detected"), calls)
    assert deliver(rejected(), handler) is Outcome.PARKED
    assert len(calls) == 3
    assert "deadlock detected" in DeadLetter.objects.using("catalog").get().error


def test_an_outage_backs_off_to_a_few_seconds_and_logs_its_start_and_end_only(caplog):
    out = Outage("relay for orders", logging.getLogger("test.outage"))
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        delays = [out.failed(ConnectionError("refused")) for _ in range(8)]
        out.recovered()
        out.recovered()  # a success after a success says nothing
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "relay for orders failed, retrying until it works",
        "relay for orders works again after 0.0 s (8 failed tries)",
    ]
    assert out.failed(ConnectionError("again")) == 0.5  # a new outage starts afresh


def test_liveness_is_lost_by_a_stalled_loop_not_by_one_waiting_on_an_outage():
    lv = heartbeat.Liveness(stall_seconds=0.2)
    assert lv.alive()
    time.sleep(0.25)
    lv.failed(dependency_out=False)  # failing while its dependencies answer: no excuse
    assert not lv.alive()
    lv.failed(dependency_out=True)
    assert lv.alive()
    lv.progressed()
    assert lv.alive()


class BrokenTransport:
    """A transport whose sends fail `fail_times` times (for ever if None); `broker_out` is what
    a fresh probe of the broker says meanwhile."""

    def __init__(self, fail_times=None, *, broker_out=True):
        self.fail_times, self.broker_out, self.sent, self.tries = fail_times, broker_out, [], 0

    def send(self, messages: list[Message]):
        self.tries += 1
        if self.fail_times is None or self.fail_times > 0:
            if self.fail_times:
                self.fail_times -= 1
            raise ConnectionError("broker unreachable")
        self.sent.extend(m.event.id for m in messages)

    def reachable(self) -> bool:
        return not self.broker_out

    def close(self):
        pass


def run_relay(transport, seconds: float) -> None:
    """The relay loop on `orders` for `seconds`, in this thread (so it sees the test's rows)."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    try:
        relay.run(["orders"], transport, stop=stop, wake=threading.Event(), poll_seconds=0.1)
    finally:
        timer.cancel()


def pending(alias="orders"):
    return OutboxEvent.objects.using(alias).filter(published_at__isnull=True).count()


def test_the_relay_loop_rides_out_an_outage_with_backoff_and_two_log_lines(caplog):
    with transaction.atomic(using="orders"):
        publish(REJECTED, key=1, data={"order_id": 1, "reason": "x"}, using="orders")
    transport = BrokenTransport(fail_times=2)
    with caplog.at_level(logging.WARNING, logger="events.outbox.relay"):
        run_relay(transport, seconds=2.5)  # fails at 0, 0.5 s, sends at 1.5 s
    assert pending() == 0
    assert transport.tries == 3  # backed off: not a try per 0.1 s poll
    assert [r.getMessage().split(" ")[3] for r in caplog.records] == ["failed,", "works"]


@pytest.mark.parametrize("broker_out", [True, False], ids=["broker out", "broker answers"])
def test_a_relay_that_cannot_send_is_alive_only_while_the_broker_is_out(monkeypatch, broker_out):
    with transaction.atomic(using="orders"):
        publish(REJECTED, key=1, data={"order_id": 1, "reason": "x"}, using="orders")
    monkeypatch.setattr(heartbeat, "STALL_SECONDS", 1.0)
    beats = []
    monkeypatch.setattr(heartbeat, "beat", lambda: beats.append(time.monotonic()))
    started = time.monotonic()
    run_relay(BrokenTransport(broker_out=broker_out), seconds=3.0)

    assert pending() == 1
    if broker_out:  # an outage alone: restarting the relay would not bring the broker back
        assert max(beats) - started > 2.0
    else:  # rows it cannot send while the broker answers: an orchestrator must restart it
        assert max(beats) - started < 1.5


def test_kafka_clients_reconnection_lines_are_logged_once_per_kind_every_30_seconds(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(outage.time, "monotonic", lambda: clock[0])
    noise = outage.RepeatedLogFilter("kafka.", seconds=30)

    def record(name, msg="Connection failed: %s"):
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("ECONNREFUSED",), None)

    passed = []
    for _ in range(20):  # ten seconds of a client retrying twice a second
        passed.append(noise.filter(r := record("kafka.conn")))
        clock[0] += 0.5
    assert passed.count(True) == 1
    assert noise.filter(record("kafka.cluster"))  # another kind of line goes through
    assert noise.filter(record("events.outbox.relay"))  # not kafka's: never held back
    clock[0] += 30
    assert noise.filter(r := record("kafka.conn"))
    assert "19 more like this" in r.getMessage()
