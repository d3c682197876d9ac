"""A newcomer's first commands, for real: `make run PORT=…` serves where it was told and prints the
URLs it serves; `make reset` wipes the embedded data and seeds it again."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from devtools.http import Api, free_port
from devtools.migration import Monolith

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent


def make_env(data_dir: Path) -> dict[str, str]:
    """The environment of a newcomer's shell: nothing configured, the dev data in `data_dir`."""
    return Monolith(data_dir.parent).env(SHOP_DATA_DIR=str(data_dir))


def run_make(*targets: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for_line(log: Path, pattern: str, process: subprocess.Popen, timeout: float = 240) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match
        assert process.poll() is None, f"make exited ({process.returncode}):\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no line matching {pattern!r} in {timeout}s:\n{log.read_text()[-3000:]}")


def test_make_run_serves_on_the_port_it_is_given_and_make_reset_starts_over(tmp_path):
    port = free_port()
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        # A session of its own, like a terminal: Ctrl-C (here SIGTERM) reaches make and the server.
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=make_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        docs = wait_for_line(log, rf"API docs\s+(http://127\.0\.0\.1:{port}/api/docs/)", make)[1]
        admin = wait_for_line(log, rf"admin\s+(http://127\.0\.0\.1:{port}/admin/)", make)[1]
        api = Api(f"http://127.0.0.1:{port}")
        for url in (docs, admin):  # HTML pages (the admin's redirects to its login page)
            with urllib.request.urlopen(url, timeout=10) as page:
                assert page.status == 200, url
        status, _ = api.post(
            "/api/auth/register/",
            {"username": "dave", "email": "dave@example.com", "password": "a-long-passphrase-9"},
        )
        assert status == 201
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)

    reset = run_make("reset", env=make_env(tmp_path), timeout=600)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    with sqlite3.connect(tmp_path / "default.sqlite3") as db:
        users = {name for (name,) in db.execute("SELECT username FROM auth_user")}
    assert "dave" not in users
    assert {"admin", "alice"} <= users


def test_make_reset_refuses_to_touch_a_configured_database(tmp_path):
    env = {**make_env(tmp_path), "DATABASE_URL_DEFAULT": "postgres://nobody@127.0.0.1:1/none"}
    done = run_make("reset", env=env, timeout=120)
    assert done.returncode != 0
    assert "SQLite databases only" in done.stdout
