"""The delivery guarantees every app relies on, tested on the events infrastructure alone."""

import uuid

import pytest
from django.core.management import call_command
from django.db import transaction

from events import publish
from events.envelope import Event
from events.inbox.apply import Outcome, apply, apply_batch
from events.inbox.dead_letters import replay
from events.inbox.deliver import deliver
from events.models import DeadLetter, InboxEntry, OutboxEvent
from events.outbox.locks import FileLock
from events.outbox.publish import PublishOutsideTransaction
from events.outbox.relay import Relay
from events.registry import Handler
from events.schemas import EventSchemaError
from events.transports import Message

pytestmark = pytest.mark.django_db(databases=["catalog", "orders"])

REJECTED = "shop.orders.order_rejected.v1"


def rejected(order_id=1, reason="out of stock") -> Event:
    return Event(
        type=REJECTED,
        source="/shop/orders",
        subject=str(order_id),
        data={"order_id": order_id, "reason": reason},
    )


def outbox(alias="catalog"):
    return OutboxEvent.objects.using(alias)


@pytest.mark.django_db(databases=["orders"], transaction=True)  # no test-wide atomic block
def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(PublishOutsideTransaction):
        publish(REJECTED, key=1, data={"order_id": 1, "reason": "x"}, using="orders")
    assert not outbox("orders").exists()


def test_invalid_event_data_is_refused_and_nothing_is_written():
    with pytest.raises(EventSchemaError), transaction.atomic(using="orders"):
        publish(REJECTED, key=1, data={"order_id": "one"}, using="orders")
    assert not outbox("orders").exists()


def test_an_event_rolls_back_with_the_change_that_caused_it():
    def change_that_fails():
        with transaction.atomic(using="orders"):
            publish(REJECTED, key=7, data={"order_id": 7, "reason": "x"}, using="orders")
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError, match="business change failed"):
        change_that_fails()
    assert not outbox("orders").exists()

    with transaction.atomic(using="orders"):
        event = publish(REJECTED, key=7, data={"order_id": 7, "reason": "x"}, using="orders")
    row = outbox("orders").get()
    assert (row.topic, row.key, str(row.event_id)) == ("shop.orders.order", "7", event.id)
    assert row.published_at is None
    assert event.traceparent.startswith("00-")


def writing_handler(calls):
    """A handler that writes (an outbox row in catalog) so rollbacks are observable."""

    def on_order_rejected(event):
        calls.append(event.id)
        publish(
            REJECTED,
            key=event.subject,
            data={"order_id": event.data["order_id"], "reason": "echo"},
            using="catalog",
        )

    return Handler(REJECTED, on_order_rejected, database="catalog")


def test_a_redelivered_event_changes_nothing():
    calls = []
    handler = writing_handler(calls)
    event = rejected()
    assert apply(event, handler) is Outcome.APPLIED
    assert apply(event, handler) is Outcome.DUPLICATE
    assert deliver(event, handler) is Outcome.DUPLICATE
    assert len(calls) == 1
    assert outbox().count() == 1
    assert InboxEntry.objects.using("catalog").filter(event_id=event.id).count() == 1


def test_a_failing_handler_leaves_nothing_half_written_and_is_parked_then_replays_once(settings):
    settings.EVENTS = {**settings.EVENTS, "HANDLER_ATTEMPTS": 3, "HANDLER_BACKOFF_SECONDS": 0}
    calls, broken = [], {"yes": True}
    inner = writing_handler(calls)

    def on_order_rejected(event):
        inner(event)  # writes first ...
        if broken["yes"]:
            raise ValueError("warehouse API down")  # ... then fails: the write must vanish

    handler = Handler(REJECTED, on_order_rejected, database="catalog")
    event = rejected()
    assert deliver(event, handler) is Outcome.PARKED
    assert len(calls) == 3  # retried
    assert not outbox().exists()
    assert not InboxEntry.objects.using("catalog").exists()
    parked = DeadLetter.objects.using("catalog").get()
    assert parked.status == DeadLetter.Status.PARKED
    assert parked.attempts == 3
    assert "warehouse API down" in parked.error

    with pytest.raises(
        ValueError, match="warehouse API down"
    ):  # replay before the fix: still parked, error kept
        replay(parked, handler)
    parked.refresh_from_db(using="catalog")
    assert parked.status == DeadLetter.Status.PARKED
    assert parked.attempts == 4

    broken["yes"] = False
    assert replay(parked, handler) is Outcome.APPLIED
    assert replay(parked, handler) is Outcome.DUPLICATE  # a second replay applies nothing
    assert outbox().count() == 1
    parked.refresh_from_db(using="catalog")
    assert parked.status == DeadLetter.Status.REPLAYED
    assert parked.replayed_at


def test_a_batch_applies_in_one_transaction_and_a_repeat_inside_it_is_a_duplicate():
    calls = []
    handler = writing_handler(calls)
    first, second = rejected(1), rejected(2)
    outcomes = apply_batch([(first, handler), (second, handler), (first, handler)], "catalog")
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.DUPLICATE]
    assert calls == [first.id, second.id]
    assert outbox().count() == 2
    assert apply_batch([(second, handler)], "catalog") == [Outcome.DUPLICATE]


def test_a_batch_with_one_failure_keeps_nothing_so_its_records_can_go_one_by_one(settings):
    settings.EVENTS = {**settings.EVENTS, "HANDLER_ATTEMPTS": 2, "HANDLER_BACKOFF_SECONDS": 0}
    calls = []
    inner = writing_handler(calls)

    def on_order_rejected(event):
        inner(event)
        if event.data["order_id"] == 2:
            raise ValueError("bug on order 2")

    handler = Handler(REJECTED, on_order_rejected, database="catalog")
    events = [rejected(1), rejected(2), rejected(3)]
    assert apply_batch([(e, handler) for e in events], "catalog") is None
    assert not outbox().exists()
    assert not InboxEntry.objects.using("catalog").exists()
    # What the Kafka consumer does next: each record on its own, so only order 2 is parked.
    assert [deliver(e, handler) for e in events] == [Outcome.APPLIED, Outcome.PARKED, Outcome.APPLIED]
    assert sorted(InboxEntry.objects.using("catalog").values_list("event_id", flat=True)) == sorted(
        [uuid.UUID(events[0].id), uuid.UUID(events[2].id)]
    )
    assert DeadLetter.objects.using("catalog").get().event_id == uuid.UUID(events[1].id)


def test_a_batch_refuses_handlers_of_another_database():
    with pytest.raises(ValueError, match="do not write to orders"):
        apply_batch([(rejected(), writing_handler([]))], "orders")


def test_event_data_that_breaks_its_schema_is_parked_without_retrying():
    calls = []
    bad = Event(type=REJECTED, source="/shop/orders", subject="1", data={"order_id": 1})
    assert deliver(bad, writing_handler(calls)) is Outcome.PARKED
    assert calls == []
    assert "reason" in DeadLetter.objects.using("catalog").get().error


class FlakyTransport:
    def __init__(self, fail_times):
        self.fail_times, self.sent = fail_times, []

    def send(self, messages: list[Message]):
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("broker unreachable")
        self.sent.extend(m.event.id for m in messages)

    def close(self):
        pass


def test_relay_marks_rows_published_only_after_the_transport_acknowledged_them():
    with transaction.atomic(using="orders"):
        ids = [
            publish(REJECTED, key=n, data={"order_id": n, "reason": "x"}, using="orders").id
            for n in range(1, 6)
        ]
    transport = FlakyTransport(fail_times=1)
    relay = Relay("orders", transport, batch_size=2)
    with pytest.raises(ConnectionError):
        relay.relay_batch()
    assert outbox("orders").filter(published_at__isnull=True).count() == 5  # nothing lost
    assert relay.relay_pending() == 5
    assert transport.sent == ids  # in commit order
    assert not outbox("orders").filter(published_at__isnull=True).exists()


def test_only_one_relay_holds_a_database_lock_until_it_lets_go(tmp_path):
    first, second = FileLock(tmp_path / "db.relay-lock"), FileLock(tmp_path / "db.relay-lock")
    assert first.acquire()
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


@pytest.mark.django_db(databases="__all__")
def test_outbox_status_reports_the_backlog(capsys):
    with transaction.atomic(using="orders"):
        publish(REJECTED, key=1, data={"order_id": 1, "reason": "x"}, using="orders")
    call_command("outbox_status")
    out = capsys.readouterr().out
    orders_line = next(line for line in out.splitlines() if line.startswith("orders "))
    assert orders_line.split()[1] == "1"


@pytest.mark.django_db(databases="__all__")
def test_pruning_deletes_only_rows_published_before_the_retention_period(settings):
    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "kafka"}
    from datetime import timedelta

    from django.utils import timezone

    from events.tasks import prune_published_outbox

    with transaction.atomic(using="orders"):
        for n in (1, 2, 3):
            publish(REJECTED, key=n, data={"order_id": n, "reason": "x"}, using="orders")
    old, recent, unpublished = outbox("orders").order_by("id")
    hours = settings.EVENTS["OUTBOX_RETENTION_HOURS"]
    outbox("orders").filter(pk=old.pk).update(published_at=timezone.now() - timedelta(hours=hours + 1))
    outbox("orders").filter(pk=recent.pk).update(published_at=timezone.now() - timedelta(hours=hours - 1))

    assert prune_published_outbox() == 1
    assert set(outbox("orders").values_list("pk", flat=True)) == {recent.pk, unpublished.pk}


@pytest.mark.django_db(databases="__all__")
def test_without_a_broker_nothing_is_pruned_because_the_outbox_is_the_event_log(settings):
    from datetime import timedelta

    from django.utils import timezone

    from events.tasks import prune_published_outbox

    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "local"}
    with transaction.atomic(using="orders"):
        publish(REJECTED, key=1, data={"order_id": 1, "reason": "x"}, using="orders")
    outbox("orders").update(published_at=timezone.now() - timedelta(days=365))
    assert prune_published_outbox() == 0
    assert outbox("orders").count() == 1
