"""Trace context and request id: carried from a request into every event it causes, stored in the
outbox row with the event, and continued by the relay's and each consumer's spans — so one order
is one trace across every process, however long an event waits in an outbox.

Spans are made through the OpenTelemetry API only; the host configures an SDK (or not). Without
one, every span here is a no-op costing about a microsecond, and the `traceparent` stored with
each event still carries the trace id, so the log lines of one order share it either way.

The spans of an event's path (names after OpenTelemetry's messaging conventions):

    create <type>     PRODUCER  publish(): the outbox row is written; its context is the row's
                                traceparent
    send <topic>      PRODUCER  the relay sends the row; child of `create`, however late and by
                                whichever relay process; its context travels with the record
    process <type>    CONSUMER  one handler applies the event; child of `send`; attributes say
                                the handler, the inbox outcome (applied / duplicate / parked) and
                                the attempts; a parked event's span is an error saying why
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

if TYPE_CHECKING:
    from events.envelope import Event
    from events.transports import Message

T = TypeVar("T")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# The attribute naming the gateway's request id on every span (and the key on every log line).
REQUEST_ID = "request_id"
# A ProxyTracer: it follows whatever TracerProvider the host sets, even after this import.
tracer = trace.get_tracer("events")


def recording() -> bool:
    """Whether spans can be recorded at all: the host installed an SDK (or a test gave events a
    tracer of its own). When not, the span helpers below skip the API's no-op spans and only
    carry the context: tracing off costs a few microseconds per event, not tens."""
    # A ProxyTracer resolves to the SDK's tracer once a provider is set, else to a NoOpTracer.
    # (Asked of the tracer, not of get_tracer_provider(), which reads os.environ on every call.)
    return not isinstance(getattr(tracer, "_tracer", tracer), trace.NoOpTracer)


# --- trace context ------------------------------------------------------------------------------
def parse_traceparent(value: str | None) -> SpanContext | None:
    """The remote span context of a valid W3C traceparent header, else None."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if not match:
        return None
    trace_id, span_id, flags = (int(group, 16) for group in match.groups())
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))


def format_traceparent(span_context: SpanContext) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) in hex of the span this code runs in, or (None, None): for logs."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None, None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


def current_trace_id() -> str | None:
    return current_ids()[0]


def _context_of(traceparent: str | None) -> otel_context.Context | None:
    remote = parse_traceparent(traceparent)
    return trace.set_span_in_context(NonRecordingSpan(remote)) if remote else None


def _root_span() -> Span:
    """A span context in a new trace of its own, for work that no request or event started
    (tracing off: the trace id still ties log lines and events together)."""
    root = SpanContext(
        secrets.randbits(128) or 1, secrets.randbits(64) or 1, is_remote=True, trace_flags=TraceFlags(1)
    )
    return NonRecordingSpan(root)


def _new_root() -> otel_context.Context:
    return trace.set_span_in_context(_root_span())


@contextlib.contextmanager
def context(*, traceparent: str | None = None, request_id: str | None = None) -> Iterator[None]:
    """Run the block inside the trace of `traceparent`; without a valid one, inside the current
    span (e.g. the web request's), or else a new trace. Sets the request id for the block, and
    on the current span when it is recorded."""
    parent = _context_of(traceparent)
    if parent is None and not trace.get_current_span().get_span_context().is_valid:
        parent = _new_root()
    token = otel_context.attach(parent) if parent is not None else None
    request_token = request_id_var.set(request_id)
    if request_id:
        trace.get_current_span().set_attribute(REQUEST_ID, request_id)
    try:
        yield
    finally:
        request_id_var.reset(request_token)
        if token is not None:
            otel_context.detach(token)


def _traceparent_of(span: Span, parent: SpanContext) -> str:
    """The traceparent that makes `span` the parent of what follows. A no-op span (no SDK) has
    its parent's context: then a fresh span id in the parent's trace (a new trace if none)."""
    span_context = span.get_span_context()
    if span_context.is_valid and span_context.span_id != parent.span_id:
        return format_traceparent(span_context)
    trace_id = parent.trace_id if parent.is_valid else secrets.randbits(128) or 1
    return f"00-{trace_id:032x}-{secrets.token_hex(8)}-{parent.trace_flags if parent.is_valid else 1:02x}"


def new_traceparent() -> str:
    """A traceparent for a new span in the current trace (a new trace if there is none)."""
    return _traceparent_of(trace.INVALID_SPAN, trace.get_current_span().get_span_context())


# --- the spans of an event's path ----------------------------------------------------------------
@contextlib.contextmanager
def creating(event_type: str, *, topic: str, event_id: str, key: str, database: str) -> Iterator[str]:
    """The `create` span of publish(): yields the traceparent to store in the outbox row."""
    parent = trace.get_current_span().get_span_context()
    if not recording():
        yield _traceparent_of(trace.INVALID_SPAN, parent)
        return
    with tracer.start_as_current_span(
        f"create {event_type}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "events",
            "messaging.operation.type": "create",
            "messaging.destination.name": topic,
            "messaging.message.id": event_id,
            "messaging.message.key": key,
            "events.type": event_type,
            "db.namespace": database,
            REQUEST_ID: request_id_var.get() or "",
        },
    ) as span:
        yield _traceparent_of(span, parent)


@contextlib.contextmanager
def sending(messages: Sequence[Message], *, database: str) -> Iterator[list[Message]]:
    """One `send` span per message, each the child of the `create` span stored in its row, open
    while the batch is sent; yields the messages carrying their send span's traceparent (the
    same messages when spans are no-ops). A failed send marks every span as an error."""
    if not recording():
        yield list(messages)
        return
    spans = []
    sent = []
    for message in messages:
        parent = parse_traceparent(message.attributes.get("traceparent"))
        span = tracer.start_span(
            f"send {message.topic}",
            context=trace.set_span_in_context(NonRecordingSpan(parent)) if parent else None,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "events",
                "messaging.operation.type": "send",
                "messaging.destination.name": message.topic,
                "messaging.message.id": message.attributes.get("id", ""),
                "messaging.message.key": message.key,
                "events.type": message.attributes.get("type", ""),
                "db.namespace": database,
                REQUEST_ID: message.attributes.get("requestid") or "",
            },
        )
        spans.append(span)
        if span.get_span_context().is_valid and (parent is None or span.get_span_context() != parent):
            attributes = {**message.attributes, "traceparent": format_traceparent(span.get_span_context())}
            message = message._replace(attributes=attributes)
        sent.append(message)
    try:
        yield sent
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"send failed: {exc}"))
        raise
    finally:
        for span in spans:
            span.end()


@dataclasses.dataclass
class Processing:
    """A `process` span that is not current yet: apply_batch() opens one per record, makes each
    current while its handler runs and ends them all once the batch's transaction is over."""

    span: Span
    event: Event

    @contextlib.contextmanager
    def current(self) -> Iterator[Span]:
        """The block runs inside this span and the event's request id (the handler's own spans
        and the events it publishes are children of it)."""
        token = otel_context.attach(trace.set_span_in_context(self.span))
        request_token = request_id_var.set(self.event.requestid)
        try:
            yield self.span
        finally:
            request_id_var.reset(request_token)
            otel_context.detach(token)

    def finish(self, outcome: str, *, attempts: int = 1, error: str | None = None) -> None:
        """Record how the delivery ended, then end the span. `error` marks it failed (parked, or
        applied and then rolled back) with the reason."""
        if not self.span.is_recording():
            return
        self.span.set_attribute("events.outcome", outcome)
        self.span.set_attribute("events.attempts", attempts)
        if error:
            self.span.set_attribute("events.error", error[:2000])
            # The reason: a traceback's last line ("ValueError: ..."), or the message itself.
            reason = next((line for line in reversed(error.strip().splitlines()) if line.strip()), error)
            self.span.set_status(Status(StatusCode.ERROR, reason.strip()[:300]))
        self.span.end()


def start_processing(event: Event, handler: str, *, database: str) -> Processing:
    """A `process` span for `handler` applying `event`, the child of the event's traceparent."""
    parent = _context_of(event.traceparent)
    if not recording():
        # No span: the handler runs in the event's trace all the same (logs, what it publishes).
        return Processing(trace.get_current_span(parent) if parent else _root_span(), event)
    span = tracer.start_span(
        f"process {event.type}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "events",
            "messaging.operation.type": "process",
            "messaging.message.id": event.id,
            "messaging.message.key": event.subject,
            "events.type": event.type,
            "events.handler": handler,
            "db.namespace": database,
            REQUEST_ID: event.requestid or "",
        },
    )
    return Processing(span, event)


@contextlib.contextmanager
def processing(event: Event, handler: str, *, database: str) -> Iterator[Processing]:
    """A `process` span, current for the block; the block calls finish() (else it ends as
    failed when the block raises, or plainly when it returns)."""
    process = start_processing(event, handler, database=database)
    try:
        with process.current():
            yield process
    except BaseException as exc:
        if process.span.is_recording():
            process.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if process.span.is_recording():
            process.span.end()


def bind(function: Callable[[], T]) -> Callable[[], T]:
    """`function`, to run later (e.g. at commit) in the trace context and request id of now."""
    captured = otel_context.get_current()
    request_id = request_id_var.get()

    def bound() -> T:
        token = otel_context.attach(captured)
        request_token = request_id_var.set(request_id)
        try:
            return function()
        finally:
            request_id_var.reset(request_token)
            otel_context.detach(token)

    return bound
