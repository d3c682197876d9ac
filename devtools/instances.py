"""Services of its own that a fault drill or test may break: a PostgreSQL server, a Redis and a
Kafka broker, each on free ports and in a directory of its own, so that restarting, killing or
freezing one never touches the shared services other people and test sessions use.

    PostgresServer  initdb into a temporary directory, `pg_ctl` start / stop / restart
    RedisServer     scripts/redis-local with its own port and directory (append-only file on,
                    as in docker/compose.yaml and k8s/), SIGKILL and start again
    KafkaBroker     scripts/kafka-local with its own ports and directory, SIGKILL, SIGSTOP/SIGCONT

Each `destroy()` stops what it started and removes its files; each is a context manager too.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.http import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


class _Instance:
    def destroy(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _read_pid(path: Path) -> int | None:
    """The pid a script's pid file names (None: no file, or not a pid)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pid: int, timeout: float = 30) -> None:
    """Until `pid` has exited (a zombie counts as exited); TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} still running after {timeout}s")
        time.sleep(0.05)


# --- PostgreSQL -----------------------------------------------------------------------------------


def _postgres_bindir() -> Path:
    """SHOP_PG_BINDIR, else Debian's PostgreSQL 15, else wherever initdb is on PATH."""
    configured = os.environ.get("SHOP_PG_BINDIR")
    if configured:
        return Path(configured)
    debian = Path("/usr/lib/postgresql/15/bin")
    if (debian / "initdb").exists():
        return debian
    found = shutil.which("initdb")
    if found is None:
        raise RuntimeError("PostgreSQL's initdb is not installed (apt-get install postgresql-15)")
    return Path(found).parent


class PostgresServer(_Instance):
    """A PostgreSQL server of its own: a fresh data directory, a free port, a superuser `shop`
    (password `shop`) that the URLs use. Root cannot run postgres, so as root the server runs as
    the `postgres` system user in a directory it owns."""

    USER = "shop"
    PASSWORD = "shop"

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.bindir = _postgres_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="shop-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._initialized = False

    @property
    def admin_url(self) -> str:
        """A URL of the `postgres` database on this server (devtools.postgres takes it as `base`)."""
        return f"postgresql://{self.USER}:{self.PASSWORD}@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        """initdb (the first time), then start the server and wait until it accepts connections."""
        if not self._initialized:
            pwfile = self.dir / "pw"
            pwfile.write_text(self.PASSWORD)
            if self._as:
                shutil.chown(pwfile, "postgres", "postgres")
            self._run(
                "initdb", "-D", str(self.data), "-U", self.USER, f"--pwfile={pwfile}", "-A", "scram-sha-256",
                "-E", "UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
            pwfile.unlink()
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write(
                    f"port = {self.port}\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\n"
                    # A split topology holds ~100 connections; drills need headroom.
                    "max_connections = 300\n"
                    "shared_buffers = 64MB\n"
                    # A test server: durability against an OS crash is not what is tested here
                    # (a server restart keeps everything committed either way).
                    "fsync = off\n"
                    "full_page_writes = off\n"
                )
            self._initialized = True
        self._pg_ctl("start", "-w", "-t", "120", "-l", str(self.log))
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: disconnect every client, roll back, checkpoint; as
        `pg_ctlcluster ... restart` does). Clients see their connections closed."""
        if self.running():
            self._pg_ctl("stop", "-w", "-t", "120", "-m", mode)

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and self._pg_ctl("status", check=False) == 0

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def _pg_ctl(self, *args: str, check: bool = True) -> int:
        return self._run("pg_ctl", "-D", str(self.data), *args, check=check)

    def _run(self, tool: str, *args: str, check: bool = True) -> int:
        done = subprocess.run(
            [*self._as, str(self.bindir / tool), *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stdout}{done.stderr}\n{tail}")
        return done.returncode


# --- Redis ----------------------------------------------------------------------------------------


class RedisServer(_Instance):
    """A Redis of its own through scripts/redis-local: append-only file on (what a Celery broker
    needs to keep queued and countdown tasks across a restart)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="shop-redis-"))
        self.env = {**os.environ, "REDIS_PORT": str(self.port), "REDIS_HOME_DIR": str(self.dir)}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return _read_pid(self.dir / f"redis-{self.port}.pid")

    def start(self) -> RedisServer:
        _script("redis-local", "start", env=self.env)
        return self

    def stop(self) -> None:
        _script("redis-local", "stop", env=self.env)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; what the append-only file holds is what survives."""
        pid = self.pid
        if pid is None:
            raise RuntimeError("redis is not running")
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- Kafka ----------------------------------------------------------------------------------------


class KafkaBroker(_Instance):
    """A Kafka broker of its own through scripts/kafka-local (KRaft, broker + controller), on free
    ports, with its data in its own directory (jars shared with the other brokers)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="shop-kafka-"))
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "KAFKA_HOME_DIR": str(self.dir),
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return _read_pid(self.dir / "kafka.pid")

    def start(self) -> KafkaBroker:
        """Start (the first time: format the storage) and wait until it answers."""
        _script("kafka-local", "start", env=self.env, timeout=240)
        return self

    def stop(self, timeout: float = 120) -> None:
        """A clean stop (SIGTERM: the broker closes its connections and flushes its logs), SIGKILL
        after `timeout` seconds. Here rather than kafka-local's stop: it waits for this very process
        and takes a zombie for gone (a `kill -0` loop does not)."""
        pid = self.pid
        if pid is None or not _pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        try:
            _wait_gone(pid, timeout)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)

    def kill(self) -> None:
        """SIGKILL: connections vanish without a goodbye; the broker recovers its logs on start."""
        pid = self._running_pid()
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)

    def freeze(self) -> None:
        """SIGSTOP: the broker keeps its sockets open and answers nothing (a hung JVM, a long GC
        pause, a VM stalled): clients see timeouts, not refused connections."""
        os.kill(self._running_pid(), signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self._running_pid(), signal.SIGCONT)

    def destroy(self) -> None:
        pid = self.pid
        if pid is not None and _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # a frozen broker cannot even stop
            with contextlib.suppress(Exception):
                self.stop(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _running_pid(self) -> int:
        pid = self.pid
        if pid is None or not _pid_alive(pid):
            raise RuntimeError("the broker is not running")
        return pid


def _script(name: str, *args: str, env: dict[str, str], timeout: float = 60) -> None:
    done = subprocess.run(
        [str(SCRIPTS / name), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/{name} {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
