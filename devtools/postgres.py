"""Postgres for local topologies and benchmarks: URLs, CREATE/DROP DATABASE, and migrated
template databases that a new topology clones in milliseconds instead of migrating."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from devtools.services import PG_ADMIN_URL


def database_url(name: str, base: str = PG_ADMIN_URL) -> str:
    """`base` (any database URL on the cluster) pointed at database `name`."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def admin(base: str = PG_ADMIN_URL) -> psycopg.Connection:
    """An autocommit connection to the cluster's `postgres` database (CREATE/DROP DATABASE)."""
    return psycopg.connect(database_url("postgres", base), autocommit=True, connect_timeout=5)


def create_database(
    name: str, *, template: str | None = None, fresh: bool = False, base: str = PG_ADMIN_URL
) -> None:
    """Create database `name` (a copy of `template`, if given) unless it exists; `fresh` drops an
    existing one first. `base`: any URL on the server to create it on."""
    with admin(base) as conn:
        if fresh:
            _drop(conn, name)
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        clause = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{clause}')


def drop_databases(names: Iterable[str], base: str = PG_ADMIN_URL) -> None:
    """Drop each database, disconnecting whoever still uses it."""
    with admin(base) as conn:
        for name in names:
            _drop(conn, name)


def _drop(conn: psycopg.Connection, name: str, *, patience: float = 30.0) -> None:
    """DROP DATABASE ... WITH (FORCE), retried while a superuser's backend is on it: a role
    without superuser may not terminate one, and autovacuum visits a freshly written database
    for a moment (seen: a benchmark's cleanup failing with InsufficientPrivilege)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class TemporaryServer:
    """A PostgreSQL server of its own: a fresh data folder (initdb), its own port on loopback,
    a role `shop` that may create databases. For what needs a second server — moving a service's
    databases to another machine — without touching the machine's clusters. Stopped, its folder
    is gone.

    Needs the server binaries (Debian: postgresql-15, in /usr/lib/postgresql/<version>/bin, or
    SHOP_PG_BINDIR). As root it runs the server as the `postgres` user, which initdb requires."""

    def __init__(self, port: int, *, password: str = "shop"):
        self.port = port
        self.password = password
        self.root: Path | None = None

    @staticmethod
    def bindir() -> Path:
        configured = os.environ.get("SHOP_PG_BINDIR")
        if configured:
            return Path(configured)
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        if not found:
            raise RuntimeError(
                "no PostgreSQL server binaries (apt-get install postgresql-15, or set SHOP_PG_BINDIR)"
            )
        return found[-1].parent

    def start(self) -> TemporaryServer:
        """initdb, start, and create the role; returns once it accepts connections."""
        self.root = Path(tempfile.mkdtemp(prefix="shop-pg-"))  # under /tmp: the postgres user can reach it
        data = self.root / "data"
        self._give_to_postgres(self.root)
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-o",
            # Throwaway data: no fsync. Unix socket in its own folder, TCP on loopback only.
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200",
            "start",
        )
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE shop LOGIN CREATEDB PASSWORD {}").format(sql.Literal(self.password))
            )
        return self

    def url(self, dbname: str) -> str:
        return f"postgres://shop:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """An empty database `name` owned by `shop`; returns its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> TemporaryServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @staticmethod
    def _give_to_postgres(folder: Path) -> None:
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        argv = [str(self.bindir() / program), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            )
