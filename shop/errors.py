"""One error shape for everything under /api/, in every mode (dev, test, prod) and every shape.

    {"detail": "human-readable reason", "code": "machine_code",
     "errors": {field: [messages]}, "request_id": "..."}

`errors` appears only on validation errors (400). `request_id` is the one the gateway passed in
`X-Request-ID` (or the one this process made; shop/middleware.py) — quote it in a bug report and
it finds the log lines and the events the request caused.

Three paths lead here, so that no error can leave in another format:
- DRF views: the exception handler (shop/api.py) shapes every APIException (400, 401, 403, 404,
  405, 409, 413, 415, 429, ...).
- Exceptions no handler took (a bug: 500; or Django's Http404/PermissionDenied raised outside
  DRF): `ApiErrorMiddleware.process_exception`, in every mode — Django's DEBUG technical page is
  never served for /api/.
- Errors Django answers before or around a view (unknown path, a bad Host header, a CSRF
  failure, an exception in another middleware): the middleware rewrites any non-JSON error
  response under /api/ into this shape, keeping its status and headers (Allow, Retry-After).

The service's database being down, restarting or refusing connections (Django's
OperationalError or InterfaceError, from any view) is no bug: it is a 503 with Retry-After, and
one log line without a traceback. A client retrying later gets its answer; nothing was written.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import is_valid_path
from django.utils.log import log_response

API_PREFIX = "/api/"

# What a status means when nothing more specific is known (Django's own error pages, the gateway).
STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("Bad request.", "bad_request"),
    401: ("Authentication credentials were not provided.", "not_authenticated"),
    403: ("You do not have permission to perform this action.", "permission_denied"),
    404: ("Not found.", "not_found"),
    405: ("Method not allowed.", "method_not_allowed"),
    406: ("Could not satisfy the request Accept header.", "not_acceptable"),
    409: ("The resource's current state does not allow this.", "conflict"),
    413: ("Request body too large.", "payload_too_large"),
    414: ("Request line too long.", "uri_too_long"),
    415: ("Unsupported media type.", "unsupported_media_type"),
    417: ("Expectation failed.", "expectation_failed"),
    429: ("Too many requests.", "throttled"),
    431: ("Request header fields too large.", "header_too_large"),
    500: ("Internal server error.", "server_error"),
    502: ("The service is unavailable.", "bad_gateway"),
    503: ("The service is temporarily unavailable.", "service_unavailable"),
    504: ("The service did not answer in time.", "gateway_timeout"),
}
# How long a client should wait before retrying when the database is unavailable: a restart
# takes seconds, and clients that all come back at once are no help either.
RETRY_AFTER_SECONDS = 5
log = logging.getLogger(__name__)


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX) or request.path_info == API_PREFIX.rstrip("/")


def payload(
    request: HttpRequest | None, *, detail: str, code: str, errors: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The error body: detail, code, errors (only when given), request_id."""
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    body["request_id"] = getattr(request, "request_id", None)
    return body


def response(
    request: HttpRequest,
    status: int,
    *,
    detail: str | None = None,
    code: str | None = None,
    errors: dict[str, Any] | None = None,
) -> JsonResponse:
    """A JSON error response in the one shape; detail and code default to the status's meaning."""
    default_detail, default_code = STATUS_DEFAULTS.get(status, ("Error.", "error"))
    resp = JsonResponse(
        payload(request, detail=detail or default_detail, code=code or default_code, errors=errors),
        status=status,
    )
    # Also where the answer comes before the security middleware (a bad Host, a body too large).
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


def _is_json(resp: HttpResponse) -> bool:
    return resp.get("Content-Type", "").split(";")[0].strip().endswith("json")


def _exception_response(request: HttpRequest, exc: Exception) -> JsonResponse | None:
    """The JSON answer for an exception Django would turn into an error page; None if unknown."""
    if isinstance(exc, Http404):
        return response(request, 404)
    if isinstance(exc, PermissionDenied):
        return response(request, 403)
    if isinstance(exc, RequestDataTooBig):
        return response(request, 413)
    if isinstance(exc, DisallowedHost):
        return response(request, 400, detail="Invalid Host header.", code="disallowed_host")
    if isinstance(exc, SuspiciousOperation | BadRequest):
        # The message may name internals (a file path, a setting): the status is enough.
        return response(request, 400)
    if isinstance(exc, OperationalError | InterfaceError):
        return database_unavailable(request, exc)
    return None


def database_unavailable(request: HttpRequest, exc: Exception) -> JsonResponse:
    """503 with Retry-After for a request the database could not serve right now (down,
    restarting, refusing connections, a lock or deadlock that a retry gets past)."""
    log.warning("%s %s: database unavailable: %s", request.method, request.path, str(exc).strip()[:300])
    resp = response(
        request,
        503,
        detail="The service cannot reach its database right now; try again shortly.",
        code="service_unavailable",
    )
    resp["Retry-After"] = str(RETRY_AFTER_SECONDS)
    resp._has_been_logged = True  # the line above says it all: no second "Service Unavailable" line
    return resp


def protocol_error(status: int, reason: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response, in the one shape, for a request the web server refuses before
    Django sees it (a request line or headers over its limits, a malformed request): gunicorn's
    and runserver's own error pages are HTML. `detail` is the server's reason; no request id is
    known yet (the headers were not read)."""
    _, code = STATUS_DEFAULTS.get(status, ("", "bad_request"))
    body = json.dumps({"detail": detail, "code": code, "request_id": None}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class ApiErrorMiddleware:
    """Makes every error under /api/ JSON in the one shape (see the module docstring).

    Placed right after RequestIdMiddleware, so the request id is known and everything else runs
    inside it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        try:
            # CommonMiddleware would raise it later and Django would answer with an HTML 400 (or
            # the DEBUG page): refuse a Host outside ALLOWED_HOSTS here, in the shape.
            request.get_host()
        except DisallowedHost as exc:
            logging.getLogger("django.security.DisallowedHost").error(
                str(exc), extra={"status_code": 400, "request": request}
            )
            return _exception_response(request, exc)
        if _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            # Refused before authentication, routing or parsing: no endpoint takes such a body.
            return response(request, 413, detail=f"Request body too large (at most {_max_body()}).")
        if _needs_a_slash(request):
            # Django would redirect (301: a client repeats a POST as a GET, its body lost) or,
            # with DEBUG, raise (a 500). Say what is wrong instead.
            return response(
                request,
                404,
                detail=f"Not found. API paths end with a slash: {request.method} {request.path}/",
            )
        resp = self.get_response(request)
        if resp.status_code >= 400 and not _is_json(resp):
            resp = self._as_json(request, resp)
        return resp

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        """Any exception a view under /api/ raised and no handler took, in every mode."""
        if not is_api(request):
            return None
        known = _exception_response(request, exc)
        if known is not None:
            return known
        # A bug. Tell whoever listens (error reporters, the test client) and log it with the
        # traceback, as Django would — but answer with the shape, never a debug page.
        signals.got_request_exception.send(sender=None, request=request)
        resp = response(request, 500)
        log_response(
            "%s: %s", "Internal Server Error", request.path, response=resp, request=request, exception=exc
        )
        return resp

    @staticmethod
    def _as_json(request: HttpRequest, original: HttpResponse) -> JsonResponse:
        resp = response(request, original.status_code)
        # Every header but the body's own: Allow, Retry-After, and what the security middleware
        # added (HSTS, nosniff, X-Frame-Options) stay.
        for header, value in original.items():
            if header.lower() not in ("content-type", "content-length"):
                resp[header] = value
        for name, cookie in original.cookies.items():  # e.g. a CSRF cookie set on the way
            resp.cookies[name] = cookie
        return resp


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/, Django's own page elsewhere (the admin's forms)."""
    if is_api(request):
        return response(request, 403, detail=f"CSRF check failed: {reason}", code="csrf_failed")
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


def _needs_a_slash(request: HttpRequest) -> bool:
    """A write to an API path that exists only with a trailing slash."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path_info.endswith("/"):
        return False
    urlconf = getattr(request, "urlconf", None)
    return not is_valid_path(request.path_info, urlconf) and is_valid_path(f"{request.path_info}/", urlconf)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _max_body() -> str:
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} bytes"
