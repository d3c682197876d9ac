"""Integration tests run real processes against real Postgres and a real Kafka broker.

Locally they skip, saying why, when a service is not running (`make db kafka` starts them); in
CI (CI=true) a missing service fails them instead, so they can never silently not run.
"""

from __future__ import annotations

import os

import psycopg
import pytest

from tests import cluster as local


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    message = (
        f"{what} is not reachable; start it with make db kafka (scripts/postgres-local, scripts/kafka-local)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every integration test: {message}")
    pytest.skip(message)


def _postgres_up() -> bool:
    try:
        psycopg.connect(local.PG_ADMIN_URL, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def _kafka_up(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient

    try:
        KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=3000, bootstrap_timeout_ms=3000
        ).close()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def services():
    _require("PostgreSQL", _postgres_up())
    _require(f"Kafka at {local.KAFKA}", _kafka_up(local.KAFKA))
    yield
    local.drop_templates()


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(local.REDIS, socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


@pytest.fixture(autouse=True)
def _redis_when_marked(request):
    if request.node.get_closest_marker("redis"):
        _require(f"Redis at {local.REDIS}", _redis_up())


@pytest.fixture
def cluster(services, tmp_path):
    c = local.LocalCluster(tmp_path).create()
    yield c
    c.destroy()
