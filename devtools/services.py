"""The local services a topology runs on, and whether they answer.

Addresses come from the environment, the same variables the test suites and scripts use:
SHOP_PG_ADMIN_URL (a role that may create databases), KAFKA_BOOTSTRAP_SERVERS and
SHOP_TEST_REDIS_URL. `scripts/postgres-local`, `scripts/kafka-local` and `scripts/redis-local`
start them; `scripts/split-local nginx` installs nginx.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PG_ADMIN_URL = os.environ.get("SHOP_PG_ADMIN_URL", "postgresql://shop:shop@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REDIS = os.environ.get("SHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def postgres_up(url: str = PG_ADMIN_URL) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def kafka_up(bootstrap: str = KAFKA) -> bool:
    from kafka import KafkaAdminClient

    try:
        KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=3000, api_version_auto_timeout_ms=3000
        ).close()
        return True
    except Exception:
        return False


def redis_up(url: str = REDIS) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


def nginx_binary() -> str | None:
    """The nginx executable, or None if it is not installed."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
