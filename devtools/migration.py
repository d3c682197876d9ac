"""The migration, performed on this machine: the README's runbook ("Moving between shapes") as code.

Shape 1 -> 2: a monolith (`manage.py runserver`, one SQLite file per database in its data folder,
events dispatched in-process) is stopped; each of its five databases is copied to a Postgres
database of its own (`copy_database`, then `copy_database --check`); the history its events left
in the outboxes becomes the beginning of the Kafka log (`publish_event_history`); and the same
code starts again as shape 2: one web process (all services) behind the gateway, a relay, one
consumer per service, a Celery worker with beat.

Shape 2 -> 3, one service at a time (`cut_over`), while traffic keeps flowing through the gateway:

1. the monolith stops serving the service: its web process is replaced, behind the gateway, by
   one with SHOP_SERVICES=<the others> (no request to the others fails: the gateway reloads
   onto the new process before the old one stops), and the service's route is switched off;
2. `drain --service X` (its consumer and the relay still running);
3. the monolith's relay, consumers and worker are replaced by ones with SHOP_SERVICES=<the
   others>: nothing writes to the service's databases any more (rows its consumer wrote after the
   drain are still pending: they move with the copy and its new relay sends them, once);
4. `copy_database <alias> --to <the second server>` for each of the service's databases;
5. the service starts alone (`SHOP_SERVICES=X`, only its databases): web, relay, consumer (its
   consumer group resumes at the offsets the monolith's consumer committed), Celery worker+beat;
6. the gateway's route points at it (nginx reload, not a restart).

`roll_back` moves a service back the same way, into a fresh database on the monolith's server.
Every step is narrated through `say` with its figures; tests pass their own `say`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools import postgres, processes
from devtools.cluster import ROOT, manage
from devtools.http import free_port, http_status, wait_until_listening
from devtools.processes import Proc
from devtools.split import SERVICES, WITH_CONSUMER, SplitTopology
from shop.topology import SERVICES as TOPOLOGY

Say = Callable[[str], None]


def quiet(_: str) -> None:
    pass


# --- shape 1 ------------------------------------------------------------------------------------------


@dataclass
class Monolith:
    """Shape 1 as `make run` runs it: `manage.py runserver`, SQLite files in `data_dir`, the
    relay and a Celery worker inside the web process. Its dev secrets (Django's key and the JWT
    key pair) are files in `data_dir` too: shape 2 takes them over, so tokens stay valid."""

    run_dir: Path
    port: int = field(default_factory=free_port)
    step_seconds: float = 1.0  # DELIVERY_STEP_SECONDS
    proc: Proc | None = None

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("DATABASE_URL_", "EVENTS_", "PYTEST_", "SHOP_", "CELERY_", "DJANGO_", "JWT_")
            )
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "shop.settings",
                "SHOP_ENV": "dev",
                "SHOP_DATA_DIR": str(self.data_dir),
                "DELIVERY_STEP_SECONDS": str(self.step_seconds),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    def manage(self, *args: str, **extra_env: str) -> str:
        """Run a management command on the monolith's databases; its output (raises on failure)."""
        return _checked(manage(*args, env=self.env(**extra_env), check=False), args)

    def prepare(self, password: str) -> None:
        """Migrated databases, the demo users (admin, alice) and catalog."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate_all", "-v", "0")
        self.manage("seed_demo", "--password", password)

    def start(self, **extra_env: str) -> Proc:
        """runserver, with `extra_env` (e.g. EVENTS_RELAY_IN_PROCESS=false); once it listens."""
        argv = [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        self.proc = processes.spawn(
            "monolith",
            argv,
            env=self.env(**extra_env),
            cwd=ROOT,
            log=self.run_dir / f"monolith-{self.port}.log",
        )
        wait_until_listening(self.port, process=self.proc.popen)
        return self.proc

    def stop(self) -> None:
        """Stop it as an operator would (Ctrl-C); its in-process relay and worker stop with it."""
        if self.proc is not None:
            processes.terminate(self.proc)
            self.proc = None

    def secrets(self) -> dict[str, str]:
        """Its Django secret key and RS256 pair, as a deployment's environment holds them."""
        pair = (self.data_dir / "jwt_rs256.pem").read_text()
        marker = "-----BEGIN PUBLIC KEY-----"
        return {
            "DJANGO_SECRET_KEY": (self.data_dir / "secret_key").read_text(),
            "JWT_PRIVATE_KEY": pair[: pair.index(marker)].strip() + "\n",
            "JWT_PUBLIC_KEY": pair[pair.index(marker) :],
        }


def _checked(done, args: Sequence[str]) -> str:
    if done.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


# --- shapes 2 and 3 -------------------------------------------------------------------------------------


@dataclass
class Cut:
    """One move of one service, with the time of each step (time.time())."""

    service: str
    direction: str  # "out" (to its own database) or "back" (into the monolith's server)
    started: float = 0.0
    route_off: float = 0.0  # the gateway stopped sending the service's requests to the monolith/service
    drained: float = 0.0
    copied: float = 0.0
    # From here the gateway may send them to where the service runs now: stamped as the reload is
    # asked for, since nginx's new workers take requests before reload() sees the old ones stop.
    route_on: float = 0.0
    rows: int = 0  # rows copied
    drain_output: str = ""
    copy_outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Migration:
    """Shape 2 behind the gateway, and the moves that turn it into shape 3 (and back).

    The services moved out get their databases on `second_server` (a TemporaryServer); the
    monolith's stay on the local cluster (devtools.postgres)."""

    topology: SplitTopology
    second_server: postgres.TemporaryServer | None = None  # where cut_over moves services to
    say: Say = quiet
    monolith_services: list[str] = field(default_factory=lambda: list(SERVICES))
    cuts: list[Cut] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cluster = self.topology.cluster
        self._web: tuple[str, int] | None = None  # the monolith's web process: (name, port)
        self._generation = 0
        self._moves: dict[str, int] = {}

    # --- the monolith on Postgres (shape 2) -------------------------------------------------------
    def monolith_env(self, **extra: str) -> dict[str, str]:
        """A monolith process's environment: the services it still serves, their databases,
        production settings with the deployment's secrets (it serves identity: the private key)."""
        return self.cluster.env(
            services=self.monolith_services, **{**self.topology.service_env("shop"), **extra}
        )

    def monolith_manage(self, *args: str, **extra_env: str) -> str:
        return _checked(manage(*args, env=self.monolith_env(**extra_env), check=False), args)

    def prepare_fresh(self, password: str) -> None:
        """Shape 2 from nothing: migrated databases, the topics, demo users and catalog."""
        self.cluster.create()
        self.monolith_manage("seed_demo", "--password", password)

    def move_from(self, monolith: Monolith) -> dict[str, str]:
        """Shape 1 -> 2, the monolith already stopped: copy and check every database, then make
        its event history the start of the Kafka log. Returns each copy's output."""
        self.cluster.create_empty(fresh=True)
        copies = {}
        for alias in self.cluster_aliases():
            self.say(f"$ manage.py copy_database {alias} --to {self._shown(alias)}")
            copies[alias] = monolith.manage("copy_database", alias, "--to", self.cluster.database_url(alias))
            self.say(_last_line(copies[alias]))
        for alias in self.cluster_aliases():
            self.say(f"$ manage.py copy_database {alias} --to {self._shown(alias)} --check")
            self.say(
                _last_line(
                    monolith.manage(
                        "copy_database", alias, "--to", self.cluster.database_url(alias), "--check"
                    )
                )
            )
        self.say("$ manage.py ensure_topics")
        self.monolith_manage("ensure_topics", "--partitions", "3")
        self.say("$ manage.py publish_event_history")
        self.say(_last_line(self.monolith_manage("publish_event_history")))
        return copies

    def cluster_aliases(self) -> list[str]:
        return [alias for service in SERVICES for alias in TOPOLOGY[service].aliases]

    def start_web_only(self) -> None:
        """The monolith's web process behind the gateway, and nothing else yet."""
        self._web = self._start_monolith_web(self.monolith_services)
        self._wait_ready(self._web[1])
        for service in SERVICES:
            self.topology.gateway.route(service, [self._web[1]])
        self.topology.start_gateway()

    def start_pipeline(self) -> None:
        """The monolith's relay, a consumer per service it serves, and its Celery worker + beat."""
        self._generation += 1
        gen = self._generation
        self._track(
            self.cluster.start_manage(
                f"monolith-relay-{gen}", "relay_outbox", services=self.monolith_services, **self._extra()
            )
        )
        for service in self.monolith_services:
            if service in WITH_CONSUMER:
                self._track(
                    self.cluster.start_manage(
                        f"monolith-consumer-{service}-{gen}",
                        "consume_events",
                        "--service",
                        service,
                        services=self.monolith_services,
                        **self._extra(),
                    )
                )
        self._track(
            self.cluster.start_celery_worker(
                f"monolith-worker-{gen}",
                services=self.monolith_services,
                beat_schedule=self.topology.run_dir / f"celerybeat-monolith-{gen}",
                **self._extra(),
            )
        )

    def start(self) -> None:
        """Shape 2 behind the gateway: the monolith's web, relay, consumers and worker."""
        self.start_web_only()
        self.start_pipeline()

    def stop(self) -> None:
        self.topology.stop()

    def destroy(self) -> None:
        """Stop every process; drop the databases on the local cluster (the second server's go
        with it)."""
        self.topology.destroy()
        postgres.drop_databases(f"{self.cluster.db(alias)}_back" for alias in self.cluster_aliases())

    # --- one service out, or back -----------------------------------------------------------------
    def perform(self, moves: Sequence[tuple[str, str]], *, pause: float = 2.0) -> list[Cut]:
        """Each (service, "out" or "back") in turn, with `pause` seconds before the first and
        after each (traffic between cuts, so each cut's figures are its own)."""
        time.sleep(pause)
        for service, direction in moves:
            (self.cut_over if direction == "out" else self.roll_back)(service)
            time.sleep(pause)
        return self.cuts

    def cut_over(self, service: str) -> Cut:
        """Move `service` out of the monolith onto its own databases on the second server (steps
        in the module's docstring); returns the time of each step."""
        cut = Cut(service, "out", started=time.time())
        rest = [s for s in self.monolith_services if s != service]
        self.say(f"== {service} moves out; the monolith keeps serving {', '.join(rest)}")
        web = self._start_monolith_web(rest)
        self._wait_ready(web[1])
        self._flip_monolith_web(web, off=[service])
        cut.route_off = time.time()
        self._said(cut, f"gateway: /api/{service}/ off; {', '.join(rest)} -> the monolith's new web (reload)")
        here = {alias: self.cluster.database_url(alias) for alias in TOPOLOGY[service].aliases}
        there = self._second_server_urls(service)
        # Its web processes boot while the data moves: no request reaches them before the route.
        self.cluster.urls.update(there)
        for replica in range(1, len(self.topology.web_ports[service]) + 1):
            self.topology.start_web(service, replica, wait=False)
        cut.drain_output = self._drain(service, here)
        cut.drained = time.time()
        self._said(cut, f"{service} drained")
        self._replace_monolith_pipeline(rest)
        self._said(cut, f"the monolith's relay, consumers and worker: SHOP_SERVICES={','.join(rest)}")
        cut.rows, cut.copy_outputs = self._copy(service, here, there)
        cut.copied = time.time()
        self._said(cut, f"{cut.rows:,} rows copied and verified")
        self.topology.start_relay(service)
        self.topology.start_consumer(service)
        self.topology.start_worker(service)
        self.topology.wait_ready(service)
        self.topology.gateway.route(service, self.topology.web_ports[service])
        cut.route_on = time.time()
        self.topology.gateway.reload()
        ports = ", ".join(f":{port}" for port in self.topology.web_ports[service])
        self._said(
            cut, f"{service} runs alone (SHOP_SERVICES={service}); gateway: /api/{service}/ -> {ports}"
        )
        self.cuts.append(cut)
        return cut

    def roll_back(self, service: str) -> Cut:
        """Move `service` back into the monolith: the same steps the other way, into fresh
        databases on the monolith's server."""
        cut = Cut(service, "back", started=time.time())
        self.say(f"== {service} moves back into the monolith")
        self.topology.gateway.route(service, [])
        self.topology.gateway.reload()
        cut.route_off = time.time()
        for replica in range(1, len(self.topology.web_ports[service]) + 1):
            self.topology.stop_component(f"{service}-web-{replica}")
        self._said(cut, f"gateway: /api/{service}/ off; {service}'s web processes stopped")
        here = {alias: self.cluster.database_url(alias) for alias in TOPOLOGY[service].aliases}
        back = {}
        for alias in TOPOLOGY[service].aliases:
            postgres.create_database(f"{self.cluster.db(alias)}_back", fresh=True)
            back[alias] = postgres.database_url(f"{self.cluster.db(alias)}_back")
        self.cluster.urls.update(back)
        serving = [*self.monolith_services, service]
        web = self._start_monolith_web(serving)  # boots while the data moves
        cut.drain_output = self._drain(service, here)
        cut.drained = time.time()
        self.topology.stop_service(service)
        self._said(cut, f"{service} drained; its relay, consumer and worker stopped")
        cut.rows, cut.copy_outputs = self._copy(service, here, back)
        cut.copied = time.time()
        self._said(cut, f"{cut.rows:,} rows copied and verified")
        self._replace_monolith_pipeline(serving)
        self._wait_ready(web[1])
        cut.route_on = time.time()
        self._flip_monolith_web(web, off=[])
        self._said(cut, f"gateway: /api/{service}/ -> the monolith (SHOP_SERVICES={','.join(serving)})")
        self.cuts.append(cut)
        return cut

    # --- steps ------------------------------------------------------------------------------------
    def _drain(self, service: str, urls: dict[str, str]) -> str:
        """`drain --service` in a process of the service on its databases at `urls`."""
        self.say(f"$ manage.py drain --service {service} --timeout 60")
        output = self.topology.manage(
            service, "drain", "--service", service, "--timeout", "60", **_urls_env(urls)
        )
        self.say("  " + output.stdout.strip().splitlines()[-1])
        return output.stdout

    def _copy(self, service: str, here: dict[str, str], there: dict[str, str]) -> tuple[int, dict[str, str]]:
        """copy_database for each of the service's databases, `here` -> `there`, at once."""

        def copy(alias: str) -> str:
            self.say(f"$ manage.py copy_database {alias} --to {_shown(there[alias])}")
            args = ("copy_database", alias, "--to", there[alias])
            return self.topology.manage(service, *args, **_urls_env(here)).stdout

        with ThreadPoolExecutor(len(there)) as pool:
            outputs = dict(zip(there, pool.map(copy, there), strict=True))
        rows = 0
        for output in outputs.values():
            summary = _last_line(output)
            self.say("  " + summary)
            rows += int(summary.split()[1].replace(",", "")) if summary.startswith("copied ") else 0
        return rows, outputs

    def _second_server_urls(self, service: str) -> dict[str, str]:
        if self.second_server is None:
            raise RuntimeError("cut_over needs a second server to move the service's databases to")
        move = self._moves[service] = self._moves.get(service, 0) + 1
        return {
            alias: self.second_server.create_database(f"{alias}_{move}")
            for alias in TOPOLOGY[service].aliases
        }

    def _flip_monolith_web(self, web: tuple[str, int], *, off: list[str]) -> None:
        """The gateway sends the monolith's routes to `web` and switches `off` routes off (one
        reload); then the monolith's previous web process stops (its requests in flight finish)."""
        old, self._web = self._web, web
        for service in self.monolith_services:
            self.topology.gateway.route(service, [web[1]])
        for service in off:
            self.topology.gateway.route(service, [])
        self.topology.gateway.reload()
        if old is not None:
            self.topology.gateway.settle()  # requests in flight to the old process finish first
            self.topology.stop_component(old[0])

    def _replace_monolith_pipeline(self, services: list[str]) -> None:
        """Stop the monolith's relay, consumers and worker; start them again for `services`.
        (Every process that enqueues Celery tasks must agree with the worker on the queue, which
        SHOP_SERVICES names: all are replaced together.)"""
        prefixes = ("monolith-relay", "monolith-consumer", "monolith-worker")
        old = [name for name in self.cluster.procs if name.startswith(prefixes)]
        with ThreadPoolExecutor(max(1, len(old))) as pool:
            list(pool.map(self.topology.stop_component, old))
        self.monolith_services = list(services)
        self.start_pipeline()

    def _start_monolith_web(self, services: list[str]) -> tuple[str, int]:
        """A monolith web process for `services` on a new port, not yet routed to."""
        self.monolith_services = list(services)
        port = free_port()
        name = f"monolith-web-{port}"
        self._track(
            self.cluster.start_web(
                port, workers=2, name=name, services=self.monolith_services, wait=False, **self._extra()
            )
        )
        return name, port

    def _said(self, cut: Cut, message: str) -> None:
        self.say(f"  [{time.time() - cut.started:5.1f} s] {message}")

    def _wait_ready(self, port: int) -> None:
        def ready() -> bool:
            dead = [p.name for p in self.cluster.procs.values() if not p.alive()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited\n{self.cluster.logs()}")
            return http_status(f"http://127.0.0.1:{port}/readyz") == 200

        processes.wait_until(ready, timeout=120, what=f"the monolith on :{port}", context=self.cluster.logs)

    def _extra(self) -> dict[str, str]:
        return self.topology.service_env("shop")

    def _track(self, proc: Proc) -> Proc:
        return self.topology.adopt(proc)

    def _shown(self, alias: str) -> str:
        return _shown(self.cluster.database_url(alias))


def _shown(url: str) -> str:
    return url.split("@")[-1]


def _urls_env(urls: dict[str, str]) -> dict[str, str]:
    return {f"DATABASE_URL_{alias.upper()}": url for alias, url in urls.items()}


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- what the traffic saw of each cut --------------------------------------------------------------


@dataclass(frozen=True)
class CutFigures:
    cut: Cut
    window: float  # seconds the service's API answered errors
    placed: int  # orders placed (201) while its route was off
    refused: int  # POST /api/orders/ that got no 201 while its route was off
    others_failed: int  # failed probes of the other services during the whole cut
    others_slow: int  # probes of the other services with no answer in time (an overloaded machine)
    longest_to_confirmed: float | None  # of the orders placed from the cut's start to its end

    def line(self) -> str:
        longest = "-" if self.longest_to_confirmed is None else f"{self.longest_to_confirmed:.1f}"
        took = self.cut.route_on - self.cut.started
        return (
            f"{self.cut.service + ' ' + self.cut.direction:<16}{self.window:>10.1f}{self.placed:>9}"
            f"{self.refused:>9}{self.others_failed:>9}{self.others_slow:>7}{longest:>12}{took:>9.1f}"
        )


FIGURES_HEADER = (
    f"{'cut':<16}{'window s':>10}{'placed':>9}{'refused':>9}{'others':>9}{'slow':>7}"
    f"{'to CONF. s':>12}{'cut s':>9}"
)


def cut_figures(load, cut: Cut, settle: float = 2.0) -> CutFigures:
    """What `load` (a devtools.load.LoadClient) saw of `cut`: the service's error window, the
    orders placed and refused while its route was off, failed probes of the other services, and
    the longest POST -> CONFIRMED of the orders placed during the cut."""
    end = cut.route_on + settle
    during = load.placed(cut.started, cut.route_on)
    delays = load.seconds_to_confirmed(during)
    return CutFigures(
        cut=cut,
        window=load.error_window(cut.service, cut.started, end),
        placed=len(load.placed(cut.route_off, cut.route_on)),
        refused=len(load.refused(cut.route_off, cut.route_on)),
        others_failed=sum(len(load.failed_probes(s, cut.started, end)) for s in SERVICES if s != cut.service),
        others_slow=sum(len(load.slow_probes(s, cut.started, end)) for s in SERVICES if s != cut.service),
        longest_to_confirmed=max(delays.values()) if delays else None,
    )
