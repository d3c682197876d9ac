"""The split end-to-end test needs Postgres, Kafka, Redis and nginx. Locally a missing one skips
it, saying how to start it; in CI (CI=true) it fails, as for tests/integration/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import cluster as local
from tests.integration.conftest import _kafka_up, _postgres_up, _redis_up, _require


@pytest.fixture(scope="module")
def split_services():
    _require("PostgreSQL", _postgres_up())
    _require(f"Kafka at {local.KAFKA}", _kafka_up(local.KAFKA))
    _require(f"Redis at {local.REDIS}", _redis_up())
    _require(
        "nginx (scripts/split-local nginx installs it)",
        bool(shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
    )
