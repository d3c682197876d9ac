"""Fixtures of the cross-app tests that run real processes against real Postgres, Kafka, Redis
and nginx (tests/integration/, tests/split/), through the same tools as `make split`
(devtools/).

Locally a test skips, saying why, when a service it needs is not running (`make services`
starts them all); in CI (CI=true) a missing service fails it instead, so no such test can
silently not run.
"""

from __future__ import annotations

import os

import pytest

from devtools import services as local
from devtools.cluster import LocalCluster, drop_templates


def _require(
    what: str, ok: bool, how: str = "make services (scripts/postgres-local, kafka-local, redis-local)"
):
    if ok:
        return
    message = f"{what} is not reachable; start it with {how}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every integration test: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def services():
    """Postgres and Kafka are up; the template databases this session made go at its end."""
    _require("PostgreSQL", local.postgres_up())
    _require(f"Kafka at {local.KAFKA}", local.kafka_up())
    yield
    drop_templates()


@pytest.fixture(autouse=True)
def _redis_when_marked(request):
    if request.node.get_closest_marker("redis"):
        _require(f"Redis at {local.REDIS}", local.redis_up())


@pytest.fixture(scope="module")
def split_services(services):
    """Everything the split topology needs: Postgres, Kafka, Redis and nginx."""
    _require("nginx", local.nginx_binary() is not None, "scripts/split-local nginx")


@pytest.fixture
def cluster(services, tmp_path):
    """A LocalCluster on fresh databases (no process started yet); destroyed afterwards."""
    c = LocalCluster(tmp_path).create()
    yield c
    c.destroy()
