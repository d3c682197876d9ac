"""Find the processes a run leaves behind — a test's, a tool's — however they were started.

A process whose parent exits is handed to PID 1 and vanishes from any "children of mine" list:
exactly how a stray server or worker escapes notice. `become_subreaper()` (Linux's
PR_SET_CHILD_SUBREAPER) makes this process adopt its orphaned descendants instead, so
`survivors()` sees every process started under it that is still running, at any depth.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Survivor:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command}"


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False where the kernel does not offer it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def survivors(root: int | None = None, *, grace: float = 5.0) -> list[Survivor]:
    """Live descendants of `root` (this process), after giving them `grace` seconds to exit.
    Zombies (exited, never waited for) are reaped, not reported."""
    root = os.getpid() if root is None else root
    deadline = time.monotonic() + grace
    while True:
        _reap_zombies()
        alive = descendants(root)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.2)


def kill(processes: list[Survivor]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    _reap_zombies()


def descendants(root: int) -> list[Survivor]:
    """The live (non-zombie) processes under `root`, at any depth."""
    children: dict[int, list[int]] = {}
    states: dict[int, tuple[str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        pid = int(entry.name)
        children.setdefault(int(ppid), []).append(pid)
        states[pid] = (state, command or stat[stat.index("(") + 1 : stat.rindex(")")])
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        state, command = states[pid]
        if state != "Z":
            found.append(Survivor(pid, command))
    return sorted(found, key=lambda s: s.pid)


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
