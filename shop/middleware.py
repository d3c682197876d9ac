"""Request id and trace context: taken from the gateway's headers (or made here), logged with
every line and carried into every event the request publishes."""

from __future__ import annotations

import logging
import re
import uuid

from events import tracing

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        with tracing.context(traceparent=request.headers.get("traceparent"), request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Puts the request id, trace id and span id of the work in progress on every log record
    ("-" where there is none, e.g. a process starting): the keys of every JSON log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = tracing.request_id_var.get() or "-"
        trace_id, span_id = tracing.current_ids()
        record.trace_id = trace_id or "-"
        record.span_id = span_id or "-"
        return True
