"""Readiness means "can serve this process's own traffic": its databases answer. The event
broker does not decide it (writes go to the outbox); `?full` shows it."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connections

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def kafka_down(settings, monkeypatch):
    from events.transports.kafka import admin

    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "kafka"}
    monkeypatch.setattr(admin, "broker_reachable", lambda timeout_ms=2000: False)


def test_a_web_process_stays_ready_while_only_the_broker_is_down(anon_api, kafka_down):
    ready = anon_api.get("/readyz")
    assert ready.status_code == 200
    assert "broker" not in ready.json()["checks"]

    full = anon_api.get("/readyz?full")
    assert full.status_code == 200  # still ready: ?full only reports
    assert full.json()["dependencies"]["broker"] == "error: unreachable"


def test_a_web_process_is_not_ready_while_one_of_its_databases_is_down(anon_api, monkeypatch):
    catalog = connections["catalog"]

    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(catalog, "cursor", refused)
    ready = anon_api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database:catalog"] == "error: OperationalError"
    assert ready.json()["checks"]["database:orders"] == "ok"


def test_full_readiness_reports_the_celery_broker(anon_api, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    full = anon_api.get("/readyz?full")
    assert full.status_code == 200
    assert full.json()["dependencies"]["celery_broker"] == "error: ConnectionError"
