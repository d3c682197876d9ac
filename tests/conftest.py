"""Fixtures of the cross-app tests that run real processes: `make run`'s monolith
(start_monolith), and real Postgres, Kafka, Redis and nginx (tests/integration/, tests/split/)
through the same tools as `make split` (devtools/).

Locally a test skips, saying why, when a service it needs is not running (`make services`
starts them all); in CI (CI=true) a missing service fails it instead, so no such test can
silently not run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools import services as local
from devtools.cluster import LocalCluster, drop_templates
from devtools.http import Api
from devtools.migration import Monolith
from shop.management.commands.seed_demo import DEV_PASSWORD
from tests.needs import require


@pytest.fixture(scope="session")
def services():
    """Postgres and Kafka are up; the template databases this session made go at its end."""
    require("PostgreSQL", local.postgres_up())
    require(f"Kafka at {local.KAFKA}", local.kafka_up())
    yield
    drop_templates()


@pytest.fixture(autouse=True)
def _redis_when_marked(request):
    if request.node.get_closest_marker("redis"):
        require(f"Redis at {local.REDIS}", local.redis_up())


@pytest.fixture(scope="module")
def split_services(services):
    """Everything the split topology needs: Postgres, Kafka, Redis and nginx."""
    require("nginx", local.nginx_binary() is not None, "scripts/split-local nginx")


@pytest.fixture
def cluster(services, tmp_path):
    """A LocalCluster on fresh databases (no process started yet); destroyed afterwards."""
    c = LocalCluster(tmp_path).create()
    yield c
    c.destroy()


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    """The API's OpenAPI schema, as /api/schema/ serves it."""
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


# --- make run's monolith, as real processes ------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data folder migrated and seeded as `make run` does, shared by the servers below."""
    prepared = Monolith(tmp_path_factory.mktemp("monolith"))
    prepared.prepare(DEV_PASSWORD)
    return prepared.run_dir


@pytest.fixture
def start_monolith(data_dir):
    """start_monolith(**env) -> (Api, server process): `make run`'s server (devtools.migration's
    Monolith, `runserver --noreload`) on a free port, on the module's data folder."""
    servers: list[Monolith] = []

    def start(**extra: str) -> tuple[Api, subprocess.Popen]:
        server = Monolith(data_dir, step_seconds=0.3)
        servers.append(server)
        return Api(server.url), server.start(**extra).popen

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def monolith(start_monolith) -> Api:
    return start_monolith()[0]
