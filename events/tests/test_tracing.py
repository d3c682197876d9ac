"""The spans of an event's path, recorded in memory: create -> send -> process, one trace from the
request that published the event to every handler, the request id on each span, the inbox
outcome on each `process` span — and nothing recorded, yet the trace id still carried, when no
SDK is configured."""

import pytest
from django.db import transaction
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from events import publish, tracing
from events.envelope import Event
from events.inbox.apply import Outcome, apply_batch
from events.inbox.deliver import deliver
from events.outbox.relay import Relay
from events.registry import Handler

pytestmark = pytest.mark.django_db(databases=["catalog", "orders"])
REJECTED = "shop.orders.order_rejected.v1"


@pytest.fixture
def spans(monkeypatch):
    """An SDK recording every span in memory, for events' tracer only (the process's global
    provider stays untouched, so other tests keep running without tracing)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "tracer", provider.get_tracer("events"))
    request_tracer = provider.get_tracer("test")
    yield exporter, request_tracer
    provider.shutdown()


class RecordingTransport:
    """Hands each message to the handler like the local transport, and keeps what was sent."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.sent = []

    def send(self, messages):
        self.sent += messages
        for message in messages:
            deliver(message.event, self.handler)

    def close(self):
        pass


def by_name(exporter, prefix):
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def test_a_published_event_is_one_trace_from_the_request_to_its_handler(spans):
    exporter, request_tracer = spans
    handled = []

    def on_rejected(event):
        handled.append(event)

    handler = Handler(REJECTED, on_rejected, database="catalog")

    with (
        request_tracer.start_as_current_span("POST /api/orders/", kind=SpanKind.SERVER) as request_span,
        tracing.context(request_id="req-1"),
        transaction.atomic(using="orders"),
    ):
        event = publish(REJECTED, key=5, data={"order_id": 5, "reason": "x"}, using="orders")
    transport = RecordingTransport(handler)
    assert Relay("orders", transport).relay_batch() == 1

    (create,) = by_name(exporter, "create ")
    (send,) = by_name(exporter, "send ")
    (process,) = by_name(exporter, "process ")
    trace_id = request_span.get_span_context().trace_id
    assert {s.context.trace_id for s in (create, send, process)} == {trace_id}
    # Parents: the request -> create -> send (the relay, from the row) -> process (the handler).
    assert create.parent.span_id == request_span.get_span_context().span_id
    assert send.parent.span_id == create.context.span_id
    assert process.parent.span_id == send.context.span_id
    assert (create.kind, send.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.PRODUCER, SpanKind.CONSUMER)
    # The row stores the create span's context; the record carries the send span's.
    assert event.traceparent == tracing.format_traceparent(create.context)
    assert transport.sent[0].attributes["traceparent"] == tracing.format_traceparent(send.context)
    assert handled[0].traceparent == transport.sent[0].attributes["traceparent"]
    for span in (create, send, process):
        assert span.attributes["request_id"] == "req-1", span.name
    assert process.attributes["events.handler"] == "events.on_rejected"
    assert process.attributes["events.outcome"] == "applied"
    assert process.attributes["events.attempts"] == 1
    assert send.attributes["messaging.destination.name"] == "shop.orders.order"


def test_a_redelivered_event_shows_as_a_duplicate_in_the_same_trace(spans):
    exporter, _ = spans

    def on_rejected(event):
        pass

    handler = Handler(REJECTED, on_rejected, database="catalog")
    event = Event(
        type=REJECTED,
        source="/shop/orders",
        subject="6",
        data={"order_id": 6, "reason": "x"},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        requestid="req-2",
    )
    assert deliver(event, handler) is Outcome.APPLIED
    assert deliver(event, handler) is Outcome.DUPLICATE

    first, second = by_name(exporter, "process ")
    assert [first.attributes["events.outcome"], second.attributes["events.outcome"]] == [
        "applied",
        "duplicate",
    ]
    assert {f"{s.context.trace_id:032x}" for s in (first, second)} == {"0af7651916cd43dd8448eb211c80319c"}
    assert {f"{s.parent.span_id:016x}" for s in (first, second)} == {"b7ad6b7169203331"}
    assert second.status.status_code is not StatusCode.ERROR


def test_a_parked_events_span_is_an_error_that_says_why(spans, settings):
    settings.EVENTS = {**settings.EVENTS, "HANDLER_BACKOFF_SECONDS": 0}
    exporter, _ = spans

    def broken(event):
        raise ValueError("no such warehouse")

    event = Event(type=REJECTED, source="/shop/orders", subject="7", data={"order_id": 7, "reason": "x"})
    assert deliver(event, Handler(REJECTED, broken, database="catalog"), attempts=3) is Outcome.PARKED

    (process,) = by_name(exporter, "process ")
    assert process.attributes["events.outcome"] == "parked"
    assert process.attributes["events.attempts"] == 3
    assert process.status.status_code is StatusCode.ERROR
    assert "no such warehouse" in process.status.description
    assert "ValueError: no such warehouse" in process.attributes["events.error"]


def test_a_batch_that_rolled_back_says_so_on_each_span(spans):
    exporter, _ = spans

    def broken(event):
        raise RuntimeError("boom")

    pairs = [
        (
            Event(type=REJECTED, source="/shop/orders", subject=str(n), data={"order_id": n, "reason": "x"}),
            Handler(REJECTED, broken, database="catalog"),
        )
        for n in (1, 2)
    ]
    assert apply_batch(pairs, "catalog") is None
    (process,) = by_name(exporter, "process ")  # the first raised: the second never started
    assert process.attributes["events.outcome"] == "rolled_back"
    assert process.status.status_code is StatusCode.ERROR


def test_without_an_sdk_nothing_is_recorded_but_the_trace_id_still_travels():
    assert not trace.get_current_span().is_recording()
    with tracing.context(request_id="req-3"), transaction.atomic(using="orders"):
        trace_id = tracing.current_trace_id()
        first = publish(REJECTED, key=8, data={"order_id": 8, "reason": "x"}, using="orders")
        second = publish(REJECTED, key=8, data={"order_id": 8, "reason": "y"}, using="orders")
    assert len(trace_id or "") == 32
    # Both events in the request's trace, each its own span id.
    assert first.traceparent.split("-")[1] == second.traceparent.split("-")[1] == trace_id
    assert first.traceparent.split("-")[2] != second.traceparent.split("-")[2]
    assert first.requestid == "req-3"

    seen = []

    def on_rejected(event):
        seen.append((tracing.current_trace_id(), tracing.request_id_var.get()))

    handler = Handler(REJECTED, on_rejected, database="catalog")
    deliver(first, handler)
    assert seen == [(trace_id, "req-3")]  # the handler's log lines carry the same ids


@pytest.mark.parametrize("value", ["", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01", "01-x-y-z"])
def test_a_bad_traceparent_starts_a_new_trace(value):
    assert tracing.parse_traceparent(value) is None
    with tracing.context(traceparent=value):
        assert tracing.current_trace_id() not in (None, "0" * 32)
