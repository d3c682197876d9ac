"""Request id and trace context: taken from the gateway's headers (or made here), logged with
every line and carried into every event the request publishes. And the query string, parsed
once before anything else reads it."""

from __future__ import annotations

import logging
import re
import uuid

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent

from events import tracing
from shop import errors

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


class QueryStringMiddleware:
    """A 400 for a query string Django will not parse (more than DATA_UPLOAD_MAX_NUMBER_FIELDS
    parameters), before anything else reads it.

    Django parses request.GET when it is first read and raises TooManyFieldsSent there: in DRF
    that is while it chooses a renderer, so it had none to answer the error with; in DEBUG the
    error page reads GET again and fails in turn — a 500 either way, wherever the request went.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            request.GET  # noqa: B018 (parsed once here; Django keeps it)
        except TooManyFieldsSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            return errors.response(request, 400, detail=f"Too many query parameters: at most {limit}.")
        return self.get_response(request)
