"""W3C trace context and request id, carried from a request into every event it causes and
from a consumed event into every event its handler publishes."""

from __future__ import annotations

import contextlib
import contextvars
import re
import secrets
from collections.abc import Iterator

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def parse_traceparent(value: str | None) -> str | None:
    """The trace id of a valid traceparent header, else None."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if not match or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def new_traceparent() -> str:
    """A traceparent for a new span in the current trace (a new trace if there is none)."""
    trace_id = trace_id_var.get() or secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


@contextlib.contextmanager
def context(*, traceparent: str | None = None, request_id: str | None = None) -> Iterator[None]:
    """Run the block inside the given trace and request; a bad traceparent starts a new trace."""
    t1 = trace_id_var.set(parse_traceparent(traceparent) or secrets.token_hex(16))
    t2 = request_id_var.set(request_id)
    try:
        yield
    finally:
        trace_id_var.reset(t1)
        request_id_var.reset(t2)
