"""Fixtures of the cross-app tests that run real processes: `make run`'s monolith
(start_monolith), and real Postgres, Kafka, Redis and nginx (tests/integration/, tests/split/)
through the same tools as `make split` (devtools/).

Locally a test skips, saying why, when a service it needs is not running (`make services`
starts them all); in CI (CI=true) a missing service fails it instead, so no such test can
silently not run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import services as local
from devtools.cluster import LocalCluster, drop_templates
from devtools.http import Api, free_port, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]


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


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    """The API's OpenAPI schema, as /api/schema/ serves it."""
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


# --- make run's monolith, as real processes ------------------------------------------------------


def monolith_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL_", "EVENTS_", "CELERY_", "SHOP_"))
        },
        "SHOP_ENV": "dev",
        "SHOP_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "DELIVERY_STEP_SECONDS": "0.3",
        **extra,
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data folder migrated and seeded as `make run` does, shared by the servers below."""
    path = tmp_path_factory.mktemp("monolith")
    for step in (["migrate_all", "-v", "0"], ["seed_demo"]):
        subprocess.run(
            MANAGE + step, env=monolith_env(path), check=True, cwd=ROOT, capture_output=True, timeout=300
        )
    return path


@pytest.fixture
def start_monolith(data_dir, tmp_path):
    """start_monolith(**env) -> (Api, server process): `runserver --noreload` on a free port."""
    servers = []

    def start(**extra: str):
        port = free_port()
        log = open(tmp_path / f"server-{port}.log", "wb")  # noqa: SIM115  (closed below)
        server = subprocess.Popen(
            [*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=monolith_env(data_dir, **extra),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        servers.append((server, log))
        wait_until_listening(port, process=server)
        return Api(f"http://127.0.0.1:{port}"), server

    yield start
    for server, log in servers:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=20)
        log.close()


@pytest.fixture
def monolith(start_monolith) -> Api:
    return start_monolith()[0]
