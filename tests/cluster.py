"""Run shop as separate local processes (web, relays, consumers) against real Postgres
databases and a real Kafka broker, the way the split deployment runs them — for the
integration tests, the benchmarks and `make split`.

Each LocalCluster gets fresh databases (cloned from a migrated template, so a new cluster
costs milliseconds) and its own Kafka namespace (topic and group prefix), so clusters never see
each other's data or events.

By default every process sees every database (shape 2). Given `services=[...]`, a process gets
SHOP_SERVICES and the database URLs of those services only (shape 3, tests/split/local.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from shop.topology import ALL_ALIASES, SERVICES

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("SHOP_PG_ADMIN_URL", "postgresql://shop:shop@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REDIS = os.environ.get("SHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


def _admin():
    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def aliases_of(services: Sequence[str] | None) -> tuple[str, ...]:
    """The database aliases a process serving `services` may see (None: all of them)."""
    if services is None:
        return ALL_ALIASES
    return tuple(alias for name in services for alias in SERVICES[name].aliases)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL_", "EVENTS_", "PYTEST_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "SHOP_ENV": "test",  # eager Celery inside each consumer, fast password hashing
            "EVENTS_TRANSPORT": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], check: bool = True, timeout: float = 300):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_template_ready = False


def _ensure_template() -> str:
    """Migrate one set of template databases per test session; clusters clone them."""
    global _template_ready
    prefix = f"shop_tpl_{os.getpid()}"
    if not _template_ready:
        with _admin() as conn:
            for alias in ALL_ALIASES:
                conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{alias}"')
                conn.execute(f'CREATE DATABASE "{prefix}_{alias}"')
        env = base_env(**{f"DATABASE_URL_{a.upper()}": _pg_url(f"{prefix}_{a}") for a in ALL_ALIASES})
        manage("migrate_all", "-v", "0", env=env)
        _template_ready = True
    return prefix


def drop_templates() -> None:
    prefix = f"shop_tpl_{os.getpid()}"
    with _admin() as conn:
        for alias in ALL_ALIASES:
            conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{alias}" WITH (FORCE)')


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    log_offset: int = 0  # a restarted process appends to the same log: read only its own part

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        with open(self.log, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")


@dataclass
class LocalCluster:
    workdir: Path
    name: str = field(default_factory=lambda: f"it{uuid.uuid4().hex[:10]}")
    kafka: str = KAFKA
    procs: dict[str, Proc] = field(default_factory=dict)

    # --- lifecycle --------------------------------------------------------------------------
    def create(self) -> LocalCluster:
        template = _ensure_template()
        with _admin() as conn:
            for alias in ALL_ALIASES:
                conn.execute(f'CREATE DATABASE "{self.db(alias)}" TEMPLATE "{template}_{alias}"')
        self.manage("ensure_topics", "--partitions", "3")
        return self

    def create_empty(self, *, fresh: bool) -> LocalCluster:
        """Empty databases for every alias (kept if they exist, unless `fresh`), to be migrated
        service by service (`migrate_all` under each SHOP_SERVICES) rather than cloned."""
        with _admin() as conn:
            for alias in ALL_ALIASES:
                if fresh:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db(alias)}" WITH (FORCE)')
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.db(alias),))
                if not exists.fetchone():
                    conn.execute(f'CREATE DATABASE "{self.db(alias)}"')
        return self

    def destroy(self) -> None:
        self.stop_all()
        with _admin() as conn:
            for alias in ALL_ALIASES:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db(alias)}" WITH (FORCE)')

    def db(self, alias: str) -> str:
        return f"shop_{self.name}_{alias}"

    def env(self, *, services: Sequence[str] | None = None, **extra: str) -> dict[str, str]:
        """A process's environment: every database (services=None), or SHOP_SERVICES and only
        the databases of `services` (an empty list: no database at all, e.g. the gateway)."""
        urls = {f"DATABASE_URL_{a.upper()}": _pg_url(self.db(a)) for a in aliases_of(services)}
        env = base_env(**urls, EVENTS_NAMESPACE=f"{self.name}.", KAFKA_BOOTSTRAP_SERVERS=self.kafka)
        env.pop("SHOP_SERVICES", None)
        if services is not None:
            env["SHOP_SERVICES"] = ",".join(services)
        env.update(extra)
        return env

    def manage(self, *args: str, services: Sequence[str] | None = None, **extra_env: str):
        return manage(*args, env=self.env(services=services, **extra_env))

    # --- processes --------------------------------------------------------------------------
    def start(
        self, name: str, argv: list[str], *, services: Sequence[str] | None = None, **extra_env: str
    ) -> Proc:
        log = self.workdir / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        handle = open(log, "ab")  # noqa: SIM115  (the child owns it from here)
        popen = subprocess.Popen(
            argv,
            env=self.env(services=services, **extra_env),
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        self.procs[name] = Proc(name, popen, log, offset)
        return self.procs[name]

    def start_manage(
        self, name: str, *args: str, services: Sequence[str] | None = None, **extra_env: str
    ) -> Proc:
        return self.start(
            name, [sys.executable, str(ROOT / "manage.py"), *args], services=services, **extra_env
        )

    def start_relay(
        self, name: str = "relay", *, services: Sequence[str] | None = None, **extra_env: str
    ) -> Proc:
        return self.start_manage(name, "relay_outbox", services=services, **extra_env)

    def start_consumer(
        self,
        service: str,
        name: str | None = None,
        *,
        split: bool = False,
        databases: Sequence[str] = (),
        **extra_env: str,
    ) -> Proc:
        """One service's consumer (only for `databases` of the service, if given); `split`: in a
        process that is that service alone."""
        return self.start_manage(
            name or f"consumer-{service}",
            "consume_events",
            "--service",
            service,
            *[arg for alias in databases for arg in ("--database", alias)],
            services=[service] if split else None,
            **extra_env,
        )

    def start_web(
        self,
        port: int,
        workers: int = 2,
        name: str = "web",
        *,
        threads: int = 4,
        services: Sequence[str] | None = None,
        wait: bool = True,
        **extra_env: str,
    ) -> Proc:
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "shop.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
        ]
        proc = self.start(name, argv, services=services, **extra_env)
        if wait:
            from tests.http import wait_until_listening

            wait_until_listening(port, process=proc.popen)
        return proc

    def celery_env(self) -> dict[str, str]:
        """Settings for real Celery on Redis (instead of eager tasks inside the consumers)."""
        return {"CELERY_TASK_ALWAYS_EAGER": "false", "CELERY_BROKER_URL": REDIS, "CELERY_QUEUE": self.name}

    def start_celery_worker(
        self,
        name: str = "celery",
        *,
        services: Sequence[str] | None = None,
        beat_schedule: Path | None = None,
        **extra_env: str,
    ) -> Proc:
        """A Celery worker on Redis; with `beat_schedule`, it runs the beat too (-B)."""
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "shop",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat_schedule is not None:
            argv += ["--beat", "--schedule", str(beat_schedule)]
        return self.start(name, argv, services=services, **{**self.celery_env(), **extra_env})

    def start_pipeline(self) -> None:
        """One relay for all databases and one consumer per service: shape 2's processes."""
        self.start_relay()
        for service in ("catalog", "orders", "delivery"):
            self.start_consumer(service)

    def signal(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, sig)
        proc.popen.wait(timeout=30)

    def stop(self, name: str, timeout: float = 20) -> int:
        proc = self.procs.pop(name)
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=10)
        return proc.popen.returncode

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()[-3000:]}" for p in self.procs.values())

    # --- looking inside -----------------------------------------------------------------------
    def sql(self, alias: str, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(_pg_url(self.db(alias))) as conn:
            return conn.execute(query, params).fetchall()

    def wait_until(self, condition, *, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")
