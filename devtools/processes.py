"""Processes a topology starts: each in a process group of its own (a signal reaches its children
too), its output in a log file, and optionally a pid file, so a later shell can stop what an
earlier one started (`make split` then `make split-stop`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


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


def spawn(name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Proc:
    """Start `argv` in a new session (its own process group), appending its output to `log`."""
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as handle:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(name, popen, log, offset)


def signal_group(proc: Proc, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to the process's whole group and wait for it to exit."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, sig)
    proc.popen.wait(timeout=30)


def terminate(proc: Proc, timeout: float = 20) -> int:
    """SIGTERM to the process group, SIGKILL after `timeout` seconds; returns the exit status."""
    if proc.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)
    return proc.popen.returncode


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = 60,
    interval: float = 0.2,
    what: str = "condition",
    context: Callable[[], str] = lambda: "",
) -> T:
    """Call `condition` until it returns something truthy, and return that; after `timeout`
    seconds raise AssertionError naming `what` (followed by `context()`, e.g. process logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{context()}".rstrip())


class LogsOnTimeout:
    """For a topology whose `logs()` tells what its processes said: its `wait_until` puts them in
    the failure message."""

    def logs(self) -> str:
        raise NotImplementedError

    def wait_until(
        self,
        condition: Callable[[], T],
        *,
        timeout: float = 60,
        interval: float = 0.2,
        what: str = "condition",
    ) -> T:
        """wait_until, with the tail of every process's log in the failure message."""
        return wait_until(condition, timeout=timeout, interval=interval, what=what, context=self.logs)


# --- pid files ----------------------------------------------------------------------------------


def start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (None if gone or a zombie): guards a pid file against a
    recycled pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def write_pid_file(path: Path, proc: Proc) -> None:
    started = start_time(proc.popen.pid) or "0"
    path.write_text(f"{proc.popen.pid} {started}\n")


def pid_file_alive(path: Path) -> bool:
    """Whether the process a pid file names is still the one that wrote it, and running."""
    try:
        pid, started = path.read_text().split()
    except (OSError, ValueError):
        return False
    return start_time(int(pid)) == started


def stop_by_pid_file(path: Path, timeout: float = 20) -> None:
    """Stop the process group a pid file names (SIGTERM, then SIGKILL), if it is still that one."""
    try:
        pid_text, started = path.read_text().split()
    except (OSError, ValueError):
        return
    pid = int(pid_text)
    if start_time(pid) != started:
        return  # already gone (or the pid now belongs to someone else)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and start_time(pid) == started:
        time.sleep(0.1)
    if start_time(pid) == started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
