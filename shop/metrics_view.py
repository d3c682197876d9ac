"""/metrics for Prometheus — not public.

Who may read it: a scraper with `Authorization: Bearer <SHOP_METRICS_TOKEN>` (a secret from the
environment; Prometheus sends it with `authorization: {credentials_file: ...}`), or staff (a
staff access token, as anywhere in the API, or the identity service's admin session). Why: the
figures tell how busy the shop is and which handlers fail, and every scrape queries each
database this process serves (outbox backlog, parked dead letters, projection lag), so an open
endpoint would also be a cheap way to load them. The gateway does not route /metrics at all: a
scraper reaches each process directly.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.exceptions import AuthenticationFailed

from shop import errors
from shop.identity.authentication import CurrentRightsAuthentication


def metrics(request: HttpRequest) -> HttpResponse:
    allowed = _who_may_read(request)
    if allowed != "yes":
        status, detail = (
            (403, "Metrics are for staff and the scraper.")
            if allowed == "not staff"
            else (401, "Metrics need the scraper's bearer token (SHOP_METRICS_TOKEN) or a staff user.")
        )
        resp = errors.response(request, status, detail=detail)
        if status == 401:
            resp["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return resp
    from events import metrics as event_metrics

    event_metrics.refresh(settings.SERVED_ALIASES)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


def _who_may_read(request: HttpRequest) -> str:
    """ "yes", "not staff" (a user, but not staff) or "unknown" (no valid credentials)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    expected = settings.SHOP_METRICS_TOKEN
    if (
        scheme.lower() == "bearer"
        and expected
        and hmac.compare_digest(credentials.encode(), expected.encode())
    ):
        return "yes"
    session_user = getattr(request, "user", None)  # the admin's session, where identity runs
    if session_user is not None and session_user.is_authenticated:
        return "yes" if session_user.is_active and session_user.is_staff else "not staff"
    try:
        authenticated = CurrentRightsAuthentication().authenticate(request)
    except AuthenticationFailed:
        return "unknown"
    if authenticated is None:
        return "unknown"
    return "yes" if authenticated[0].is_staff else "not staff"
