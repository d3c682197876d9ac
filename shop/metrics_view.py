"""Prometheus scrape endpoint. Refreshes the outbox gauges of this process's databases first."""

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def metrics(request):
    from events.relay import backlog

    for alias in settings.SERVED_ALIASES:
        try:
            backlog(alias)
        except Exception:  # a database being down must not hide the other metrics
            pass
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
