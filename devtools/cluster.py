"""Run shop as separate local processes (web, relays, consumers, Celery) against real Postgres
databases and a real Kafka broker, the way the split deployment runs them — for the
integration tests, the benchmarks and `make split`.

Each LocalCluster gets fresh databases (cloned from a migrated template, so a new cluster
costs milliseconds) and its own Kafka namespace (topic and group prefix), so clusters never see
each other's data or events.

By default every process sees every database (shape 2). Given `services=[...]`, a process gets
SHOP_SERVICES and the database URLs of those services only (shape 3, devtools/split.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from devtools import postgres, processes
from devtools.http import wait_until_listening
from devtools.processes import Proc
from devtools.services import KAFKA, PG_ADMIN_URL, REDIS
from shop.topology import ALL_ALIASES, SERVICES

ROOT = Path(__file__).resolve().parent.parent


def aliases_of(services: Sequence[str] | None) -> tuple[str, ...]:
    """The database aliases a process serving `services` may see (None: all of them)."""
    if services is None:
        return ALL_ALIASES
    return tuple(alias for name in services for alias in SERVICES[name].aliases)


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment less its database, events and pytest variables, plus what every
    process of a local topology runs with, plus `extra`."""
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
    """Run `manage.py args` to completion in a process of its own, its output captured."""
    return python(str(ROOT / "manage.py"), *args, env=env, check=check, timeout=timeout)


def python(*args: str, env: dict[str, str], check: bool = True, timeout: float = 300):
    """Run `python args` (this interpreter) in the repository to completion, its output captured."""
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=ROOT,
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_templates_ready: set[str] = set()  # the Postgres servers (admin URLs) this process migrated templates on


def _template_prefix() -> str:
    return f"shop_tpl_{os.getpid()}"


def _ensure_template(base: str = PG_ADMIN_URL) -> str:
    """Migrate one set of template databases per process (a test session, a benchmark run) and
    Postgres server; clusters clone them."""
    prefix = _template_prefix()
    if base not in _templates_ready:
        for alias in ALL_ALIASES:
            postgres.create_database(f"{prefix}_{alias}", fresh=True, base=base)
        urls = {
            f"DATABASE_URL_{a.upper()}": postgres.database_url(f"{prefix}_{a}", base) for a in ALL_ALIASES
        }
        manage("migrate_all", "-v", "0", env=base_env(**urls))
        _templates_ready.add(base)
    return prefix


def drop_templates(base: str = PG_ADMIN_URL) -> None:
    """Drop this process's template databases on server `base` (at the end of a test session or a
    benchmark; a server of its own that is about to be destroyed needs no such care)."""
    postgres.drop_databases((f"{_template_prefix()}_{alias}" for alias in ALL_ALIASES), base)
    _templates_ready.discard(base)


@dataclass
class LocalCluster(processes.LogsOnTimeout):
    workdir: Path  # process logs: <workdir>/<process name>.log
    name: str = field(default_factory=lambda: f"it{uuid.uuid4().hex[:10]}")
    kafka: str = KAFKA  # bootstrap servers
    pg: str = PG_ADMIN_URL  # any URL on the Postgres server that holds the cluster's databases
    redis: str = REDIS  # the Celery broker, when real Celery runs (celery_env)
    procs: dict[str, Proc] = field(default_factory=dict)
    # Databases that live elsewhere (a service moved to another server): alias -> URL.
    urls: dict[str, str] = field(default_factory=dict)

    # --- lifecycle --------------------------------------------------------------------------
    def create(self) -> LocalCluster:
        """Databases cloned from the migrated template, and the topics: ready for processes."""
        template = _ensure_template(self.pg)
        for alias in ALL_ALIASES:
            postgres.create_database(self.db(alias), template=f"{template}_{alias}", base=self.pg)
        self.manage("ensure_topics", "--partitions", "3")
        return self

    def create_empty(self, *, fresh: bool) -> LocalCluster:
        """Empty databases for every alias (kept if they exist, unless `fresh`), to be migrated
        service by service (`migrate_all` under each SHOP_SERVICES) rather than cloned."""
        for alias in ALL_ALIASES:
            postgres.create_database(self.db(alias), fresh=fresh, base=self.pg)
        return self

    def destroy(self) -> None:
        """Stop every process and drop the databases."""
        self.stop_all()
        postgres.drop_databases((self.db(alias) for alias in ALL_ALIASES), self.pg)

    def db(self, alias: str) -> str:
        """The name of this cluster's database for `alias`."""
        return f"shop_{self.name}_{alias}"

    def database_url(self, alias: str) -> str:
        return self.urls.get(alias) or postgres.database_url(self.db(alias), self.pg)

    def env(self, *, services: Sequence[str] | None = None, **extra: str) -> dict[str, str]:
        """A process's environment: every database (services=None), or SHOP_SERVICES and only
        the databases of `services` (an empty list: no database at all, e.g. the gateway)."""
        urls = {f"DATABASE_URL_{a.upper()}": self.database_url(a) for a in aliases_of(services)}
        env = base_env(**urls, EVENTS_NAMESPACE=f"{self.name}.", KAFKA_BOOTSTRAP_SERVERS=self.kafka)
        env.pop("SHOP_SERVICES", None)
        if services is not None:
            env["SHOP_SERVICES"] = ",".join(services)
        env.update(extra)
        return env

    def manage(self, *args: str, services: Sequence[str] | None = None, **extra_env: str):
        """Run a management command to completion with this cluster's settings."""
        return manage(*args, env=self.env(services=services, **extra_env))

    # --- processes --------------------------------------------------------------------------
    def start(
        self, name: str, argv: list[str], *, services: Sequence[str] | None = None, **extra_env: str
    ) -> Proc:
        """Start `argv` as process `name` (its log is appended to when it is started again)."""
        # Named like the process, in the trace UI too (when the process exports traces).
        env = self.env(services=services, **{"OTEL_SERVICE_NAME": name, **extra_env})
        self.procs[name] = processes.spawn(name, argv, env=env, cwd=ROOT, log=self.workdir / f"{name}.log")
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
        """gunicorn on 127.0.0.1:`port` with the image's settings (gunicorn.conf.py, read from
        the repository, the working directory), but `workers` x `threads` of them; `wait`:
        return once it listens."""
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
            "--log-level",
            "warning",
        ]
        proc = self.start(name, argv, services=services, **extra_env)
        if wait:
            wait_until_listening(port, process=proc.popen)
        return proc

    def celery_env(self) -> dict[str, str]:
        """Settings for real Celery on Redis (instead of eager tasks inside the consumers)."""
        return {
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_BROKER_URL": self.redis,
            "CELERY_QUEUE": self.name,
        }

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
        """Signal process `name` (its whole group) and wait for it to exit; it stays listed."""
        processes.signal_group(self.procs[name], sig)

    def stop(self, name: str, timeout: float = 20) -> int:
        """SIGTERM process `name`, SIGKILL after `timeout`; forget it, return its exit status."""
        return processes.terminate(self.procs.pop(name), timeout)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs(self) -> str:
        """The tail of every process's log, for a failure message."""
        return "\n".join(f"--- {p.name} ---\n{p.output()[-3000:]}" for p in self.procs.values())

    # --- looking inside -----------------------------------------------------------------------
    def sql(self, alias: str, query: str, params: tuple = ()) -> list[tuple]:
        """Run one query on this cluster's database `alias` (a connection of its own)."""
        with psycopg.connect(self.database_url(alias), connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()
