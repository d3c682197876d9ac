"""Shape 3 — split services behind a gateway — as local processes on loopback: the topology of
docker/compose.yaml with one process per container, started through devtools/cluster.py.

Per service, every process runs with SHOP_SERVICES=<service> and the database URLs of that
service only (so it cannot open another's database at all):

    shop      gunicorn (identity: users, tokens, admin), relay       database default
    catalog   gunicorn, relay, consumer, Celery worker + beat       database catalog
    orders    gunicorn x2, relay, consumer, Celery worker + beat    databases orders, orders_read
    delivery  gunicorn, relay, consumer, Celery worker + beat       database delivery
    gateway   nginx from docker/gateway/nginx.conf.template, balancing the replicas

plus the local Kafka (its own topic namespace), Redis (its own queues) and Postgres (databases
shop_<name>_<alias>, each migrated with `migrate_all` under its service's SHOP_SERVICES).
The settings are production's (SHOP_ENV=prod): secrets from the environment, only the shop
service holds the private JWT key, JSON logs.

Processes are named `<service>-<role>` (`orders-web-2`, `catalog-relay`, `delivery-consumer`,
`orders-worker`) and `gateway`; `start_component(name)` / `stop_component(name)` /
`kill(name)` act on one, `start_service` / `stop_service` on every process of a service, and
`gateway.route(...)` + `gateway.reload()` move a path prefix to other replicas without a restart.

`python -m devtools.split start|stop|status|drop` is `make split` / `make split-stop`
(scripts/split-local); the end-to-end test (tests/split/test_split_e2e.py) uses the same class on
fresh databases and free ports.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools import processes
from devtools.cluster import ROOT, LocalCluster, manage
from devtools.gateway import Gateway
from devtools.http import free_port, http_status
from devtools.processes import Proc
from devtools.services import KAFKA, PG_ADMIN_URL, REDIS
from devtools.tracing import TraceBackend

SERVICES = ("shop", "catalog", "orders", "delivery")
# Every service publishes (identity: users' rights changes, shop/identity/rights.py); all but
# identity consume (identity's events feed the others' replicas of users' rights).
WITH_RELAY = SERVICES
WITH_CONSUMER = ("catalog", "orders", "delivery")
# Web replicas per service: orders has two, so the gateway's balancing is always exercised.
REPLICAS = {"shop": 1, "catalog": 1, "orders": 2, "delivery": 1}


def web_ports_from(base: int) -> dict[str, list[int]]:
    """Fixed web ports (make split's): shop base+1, catalog base+101, orders base+201 and 202, …"""
    return {
        service: [base + 100 * i + replica for replica in range(1, n + 1)]
        for i, (service, n) in enumerate(REPLICAS.items())
    }


def free_web_ports() -> dict[str, list[int]]:
    """A free port for each web replica (tests, demos: nothing else may be using them)."""
    return {service: [free_port() for _ in range(n)] for service, n in REPLICAS.items()}


WITH_CELERY = ("catalog", "orders", "delivery")  # outbox pruning; pending-order expiry; shipment steps
ADMIN_USER = "admin"
# Stopped in this order: no new requests first, the relays (which drain outboxes) last.
STOP_ORDER = ("gateway", "web", "worker", "consumer", "relay")
_WEB = re.compile(r"^(?P<service>[a-z]+)-web-(?P<replica>\d+)$")


def make_secrets() -> dict[str, str]:
    """A fresh Django secret key and RS256 key pair, as a deployment's secrets hold them."""
    from shop.identity.keys import generate_pem_pair

    private, public = generate_pem_pair()
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_PRIVATE_KEY": private,
        "JWT_PUBLIC_KEY": public,
    }


@dataclass
class SplitTopology:
    """The split deployment on this machine. `run_dir` holds logs, pid files, the rendered
    gateway config and (for make split) the generated secrets."""

    run_dir: Path
    name: str = "split"
    gateway_port: int = 8080
    web_ports: dict[str, list[int]] = field(default_factory=lambda: web_ports_from(18100))
    settings: dict[str, str] = field(default_factory=dict)  # extra environment for every service process
    gateway_values: dict[str, str] = field(default_factory=dict)  # template values over the defaults
    secrets: dict[str, str] = field(default_factory=make_secrets)
    admin_password: str = "demo-pass-123"
    # Zipkin + the OpenTelemetry Collector (devtools/tracing.py): every process exports its spans
    # there, sampled at trace_sample (parent-based: whole orders). None: tracing off.
    tracing: TraceBackend | None = None
    trace_sample: float = 1.0
    # Where the topology's Postgres databases, Kafka broker and Redis are (default: the local
    # services, devtools/services.py; a fault drill passes servers of its own, devtools/instances.py).
    pg: str = PG_ADMIN_URL
    kafka: str = KAFKA
    redis: str = REDIS

    def __post_init__(self) -> None:
        self.logs = self.run_dir / "logs"
        self.pids = self.run_dir / "pids"
        for folder in (self.logs, self.pids):
            folder.mkdir(parents=True, exist_ok=True)
        self.cluster = LocalCluster(self.logs, name=self.name, kafka=self.kafka, pg=self.pg, redis=self.redis)
        self.gateway = Gateway(
            self.run_dir / "nginx", port=self.gateway_port, routes=self.web_ports, values=self.gateway_values
        )

    @property
    def url(self) -> str:
        """The base URL clients use: the gateway's."""
        return self.gateway.url

    # --- environment ----------------------------------------------------------------------------
    def service_env(self, service: str) -> dict[str, str]:
        """What one service's processes get besides SHOP_SERVICES and their own database URLs."""
        env = {
            "SHOP_ENV": "prod",
            "DJANGO_SECRET_KEY": self.secrets["DJANGO_SECRET_KEY"],
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "JWT_PUBLIC_KEY": self.secrets["JWT_PUBLIC_KEY"],
            # Only identity can sign; the others verify with the public key.
            "JWT_PRIVATE_KEY": self.secrets["JWT_PRIVATE_KEY"] if service == "shop" else "",
            "DELIVERY_STEP_SECONDS": "2",
            "SHOP_TRUSTED_PROXIES": "1",  # behind the gateway: throttles count the client's address
            "SHOP_TLS_AT_GATEWAY": "true",  # loopback, plain HTTP: no redirect to HTTPS here
            **self.cluster.celery_env(),
            **(self.tracing.service_env(self.trace_sample) if self.tracing else {}),
        }
        env.update(self.settings)
        return env

    def manage(self, service: str, *args: str, **extra_env: str):
        """A management command in a process that is `service` alone (raises with its output)."""
        # One-off commands (migrations, seeding) export no spans: the trace UI shows the traffic.
        env = self.cluster.env(
            services=[service], **{**self.service_env(service), "OTEL_TRACES_EXPORTER": "none", **extra_env}
        )
        done = manage(*args, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{service}: manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr[-4000:]}"
            )
        return done

    # --- lifecycle ------------------------------------------------------------------------------
    def prepare(self, *, fresh: bool) -> None:
        """Databases (fresh, or kept from last time), each service migrated on its own databases
        only, topics, the admin's static files, a staff user and the demo catalog."""
        self.cluster.create_empty(fresh=fresh)
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            list(pool.map(lambda s: self.manage(s, "migrate_all", "-v", "0"), SERVICES))
        # Independent of each other: topics; the admin's static files and user; the catalog.
        with ThreadPoolExecutor(3) as pool:
            for done in [
                pool.submit(self.manage, "shop", "ensure_topics", "--partitions", "3"),
                pool.submit(self._prepare_identity),
                pool.submit(self.manage, "catalog", "seed_catalog"),
            ]:
                done.result()

    def _prepare_identity(self) -> None:
        self.manage("shop", "collectstatic", "--noinput", "-v", "0")
        if not self._admin_exists():
            self.manage(
                "shop",
                "createsuperuser",
                "--noinput",
                DJANGO_SUPERUSER_USERNAME=ADMIN_USER,
                DJANGO_SUPERUSER_EMAIL="admin@example.com",
                DJANGO_SUPERUSER_PASSWORD=self.admin_password,
            )

    def _admin_exists(self) -> bool:
        rows = self.cluster.sql("default", "SELECT 1 FROM auth_user WHERE username = %s", (ADMIN_USER,))
        return bool(rows)

    def start(self) -> None:
        """The trace backend (if any), every process, then the gateway once every service
        answers /readyz, and last the trace UI (the slowest to boot)."""
        if self.tracing:
            for proc in self.tracing.start():
                processes.write_pid_file(self.pids / f"{proc.name}.pid", proc)
        for service in SERVICES:
            self.start_service(service, wait=False)
        for service in SERVICES:
            self.wait_ready(service)
        self.start_gateway()
        if self.tracing:
            self.tracing.wait_ready()

    def start_service(self, service: str, *, wait: bool = True) -> None:
        """Every process of one service: its web replicas, and its relay, consumer and Celery
        worker (with beat) where it has them; `wait`: until each replica answers /readyz."""
        for replica in range(1, len(self.web_ports[service]) + 1):
            self.start_web(service, replica, wait=False)
        if service in WITH_RELAY:
            self.start_relay(service)
        if service in WITH_CONSUMER:
            self.start_consumer(service)
        if service in WITH_CELERY:
            self.start_worker(service)
        if wait:
            self.wait_ready(service)

    def stop_service(self, service: str) -> None:
        """Stop every process of one service (as stop() would: requests first, relay last)."""
        self._stop_names([name for name in self._names() if name.startswith(f"{service}-")])

    def wait_ready(self, service: str) -> None:
        """Until every web replica of `service` answers /readyz with 200."""
        for port in self.web_ports[service]:
            self._wait(f"http://127.0.0.1:{port}/readyz", f"{service} on :{port} to be ready")

    def start_web(self, service: str, replica: int = 1, *, wait: bool = True) -> Proc:
        """gunicorn for one replica of `service` (names like orders-web-2), on its port."""
        port = self.web_ports[service][replica - 1]
        proc = self._track(
            self.cluster.start_web(
                port,
                workers=1,
                name=f"{service}-web-{replica}",
                services=[service],
                wait=False,
                **self.service_env(service),
            )
        )
        if wait:
            self._wait(f"http://127.0.0.1:{port}/readyz", f"{service} on :{port} to be ready")
        return proc

    def start_relay(self, service: str) -> Proc:
        return self._track(
            self.cluster.start_relay(f"{service}-relay", services=[service], **self.service_env(service))
        )

    def start_consumer(self, service: str) -> Proc:
        return self._track(
            self.cluster.start_consumer(
                service, f"{service}-consumer", split=True, **self.service_env(service)
            )
        )

    def start_worker(self, service: str) -> Proc:
        """The service's Celery worker, running its beat too."""
        return self._track(
            self.cluster.start_celery_worker(
                f"{service}-worker",
                services=[service],
                beat_schedule=self.run_dir / f"celerybeat-{service}",
                **self.service_env(service),
            )
        )

    def start_gateway(self) -> Proc:
        """nginx on the gateway port, routing to the web replicas; returns once it answers."""
        self.gateway.write_config()
        proc = self._track(self.cluster.start("gateway", self.gateway.argv(), services=[]))
        self._wait(f"{self.url}/healthz", "the gateway")
        return proc

    def start_component(self, name: str) -> Proc:
        """Start one process by its name: `gateway`, `<service>-web-<n>`, `<service>-relay`,
        `<service>-consumer` or `<service>-worker` (waiting until a web replica is ready)."""
        if name == "gateway":
            return self.start_gateway()
        if web := _WEB.match(name):
            return self.start_web(web["service"], int(web["replica"]))
        service, _, role = name.partition("-")
        starters = {"relay": self.start_relay, "consumer": self.start_consumer, "worker": self.start_worker}
        if service not in SERVICES or role not in starters:
            raise ValueError(f"no component {name!r} in this topology")
        return starters[role](service)

    def adopt(self, proc: Proc) -> Proc:
        """Count a process started through this topology's cluster as one of its own: stop()
        stops it, and `make split-stop` from another shell too (a pid file)."""
        return self._track(proc)

    def stop_component(self, name: str) -> None:
        """Stop one process as stop() would (SIGTERM, then SIGKILL after 20 s)."""
        self._stop_one(name)

    def gateway_upstreams(self, prefix: str) -> set[str]:
        """Every upstream address the gateway sent requests for paths under `prefix` to (its
        access log)."""
        entries = map(json.loads, filter(None, self.cluster.procs["gateway"].output().splitlines()))
        return {
            address.strip()
            for entry in entries
            if entry["uri"].startswith(prefix) and entry["upstream"]
            for address in entry["upstream"].split(",")
        }

    def replica_addresses(self, service: str) -> set[str]:
        """host:port of each web replica of `service`, as the gateway reaches it."""
        return {f"127.0.0.1:{port}" for port in self.web_ports[service]}

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one process (its whole process group) and forget it."""
        self.cluster.signal(name, sig)
        self.cluster.procs.pop(name)
        (self.pids / f"{name}.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop what this topology started: processes this object holds, and those named by pid
        files (a `make split` started from another shell). SIGTERM, then SIGKILL after 20 s."""
        self._stop_names(self._names())

    def destroy(self) -> None:
        """Stop every process and drop the databases."""
        self.stop()
        self.cluster.destroy()

    def running(self) -> dict[str, bool]:
        """Every process with a pid file, and whether it is still running."""
        return {path.stem: processes.pid_file_alive(path) for path in sorted(self.pids.glob("*.pid"))}

    # --- helpers --------------------------------------------------------------------------------
    def _names(self) -> set[str]:
        return {p.stem for p in self.pids.glob("*.pid")} | set(self.cluster.procs) | self._trace_names()

    def _trace_names(self) -> set[str]:
        return set(self.tracing.procs) if self.tracing else set()

    def _stop_names(self, names: list[str] | set[str]) -> None:
        def rank(name: str) -> int:
            return next((i for i, role in enumerate(STOP_ORDER) if role in name), len(STOP_ORDER))

        # One role at a time, the processes of a role all at once.
        for role in range(len(STOP_ORDER) + 1):
            group = [name for name in names if rank(name) == role]
            if group:
                with ThreadPoolExecutor(len(group)) as pool:
                    list(pool.map(self._stop_one, group))

    def _stop_one(self, name: str) -> None:
        if name in self.cluster.procs:
            self.cluster.stop(name)
        elif self.tracing and name in self.tracing.procs:
            processes.terminate(self.tracing.procs.pop(name), timeout=10)
        else:
            processes.stop_by_pid_file(self.pids / f"{name}.pid")
        (self.pids / f"{name}.pid").unlink(missing_ok=True)

    def _track(self, proc: Proc) -> Proc:
        processes.write_pid_file(self.pids / f"{proc.name}.pid", proc)
        return proc

    def _wait(self, url: str, what: str, *, timeout: float = 120) -> None:
        def ready() -> bool:
            dead = [p.name for p in self.cluster.procs.values() if not p.alive()]
            if dead:
                raise RuntimeError(
                    f"{', '.join(dead)} exited while waiting for {what}\n{self.cluster.logs()}"
                )
            return http_status(url) == 200

        try:
            processes.wait_until(ready, timeout=timeout, what=what, context=self.cluster.logs)
        except AssertionError as exc:
            raise TimeoutError(str(exc)) from None


# --- make split -------------------------------------------------------------------------------------
RUN_DIR = ROOT / ".cache" / "split"


def _persistent_secrets() -> dict[str, str]:
    """make split keeps its generated secrets, so tokens and sessions survive a restart."""
    path = RUN_DIR / "secrets.json"
    if not path.exists():
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(make_secrets()))
        path.chmod(0o600)
    return json.loads(path.read_text())


# The ports `make split` listens on, each from the environment (default here).
PORT_SETTINGS = {
    "SPLIT_BASE_PORT": 18100,
    "SPLIT_GATEWAY_PORT": 8080,
    "SPLIT_TRACE_UI_PORT": 9411,
    "SPLIT_OTLP_PORT": 4318,
}


def _ports_file() -> Path:
    return RUN_DIR / "ports.json"


def _ports(*, of_running: bool) -> dict[str, int]:
    """Each port from the environment; else, `of_running`, the one the running split was started
    with (so `status` finds a gateway started with SPLIT_GATEWAY_PORT without being told again);
    else the default."""
    path = _ports_file()
    started = json.loads(path.read_text()) if of_running and path.exists() else {}
    return {
        name: int(os.environ.get(name) or started.get(name) or value) for name, value in PORT_SETTINGS.items()
    }


def local_topology(*, of_running: bool = True) -> SplitTopology:
    """The topology `make split` runs: fixed ports (`PORT_SETTINGS`; `of_running`: those of the
    split that runs), kept databases shop_split_<alias> and secrets kept in
    .cache/split/secrets.json."""
    ports = _ports(of_running=of_running)
    base = ports["SPLIT_BASE_PORT"]
    tracing = None
    if os.environ.get("SPLIT_TRACING", "on") != "off":
        tracing = TraceBackend(
            RUN_DIR / "logs",
            ui_port=ports["SPLIT_TRACE_UI_PORT"],
            otlp_port=ports["SPLIT_OTLP_PORT"],
        )
    return SplitTopology(
        RUN_DIR,
        name="split",
        gateway_port=ports["SPLIT_GATEWAY_PORT"],
        web_ports=web_ports_from(base),
        settings={"DELIVERY_STEP_SECONDS": os.environ.get("DELIVERY_STEP_SECONDS", "2")},
        secrets=_persistent_secrets(),
        admin_password=os.environ.get("SPLIT_ADMIN_PASSWORD", "demo-pass-123"),
        tracing=tracing,
        trace_sample=float(os.environ.get("SPLIT_TRACE_SAMPLE", "1")),
    )


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    # A split starting takes its ports from the environment, never from one that ran before.
    topology = local_topology(of_running=command != "start")
    if command == "start":
        alive = [name for name, ok in topology.running().items() if ok]
        if alive:
            print(f"split: already running ({', '.join(alive)}); scripts/split-local stop first")
            return 0
        started = time.monotonic()
        topology.prepare(fresh=False)
        try:
            topology.start()
        except Exception:
            topology.stop()
            raise
        _ports_file().write_text(json.dumps(_ports(of_running=False)))
        print(f"split: {len(topology.cluster.procs)} processes up in {time.monotonic() - started:.0f}s")
        print(f"  gateway  {topology.url}/api/docs/   admin: {topology.url}/admin/ ({ADMIN_USER})")
        if topology.tracing:
            print(f"  traces   {topology.tracing.ui_url}/zipkin/ (search request_id=<X-Request-ID>)")
        print(f"  logs     {topology.logs}/")
        print("  stop     make split-stop")
        return 0
    if command == "stop":
        topology.stop()
        _ports_file().unlink(missing_ok=True)
        print("split: stopped")
        return 0
    if command == "drop":
        topology.cluster.destroy()
        print(f"split: databases shop_{topology.name}_* dropped")
        return 0
    if command == "status":
        running = topology.running()
        if not running:
            print("split: not running")
            return 3
        for name, ok in running.items():
            print(f"  {name:22s} {'running' if ok else 'DEAD'}")
        for service, ports in topology.web_ports.items():
            for port in ports:
                print(f"  {service}:{port} /readyz -> {http_status(f'http://127.0.0.1:{port}/readyz')}")
        print(f"  gateway {topology.url}/healthz -> {http_status(f'{topology.url}/healthz')}")
        return 0 if all(running.values()) else 1
    print(f"unknown command {command!r}: start | stop | status | drop", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
