"""Find the processes a run leaves behind — a test's, a tool's — however they were started.

A process whose parent exits is handed to PID 1 and vanishes from any "children of mine" list:
exactly how a stray server or worker escapes notice. So a run tags itself instead: `tag_run()`
puts a fresh id into the environment, every process started from then on inherits it (servers,
their forks, daemons that detach), and `survivors()` finds the live ones by that id — plus any
descendant that was started with an environment of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TAG = "LEFTOVER_CHECK_RUN"  # no prefix the tests strip from environments (SHOP_, PYTEST_, ...)


@dataclass(frozen=True)
class Survivor:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command}"


def tag_run() -> str:
    """Give this process (and so everything it starts) a new run id; returns it."""
    os.environ[TAG] = uuid.uuid4().hex
    return os.environ[TAG]


def survivors(*, grace: float = 5.0) -> list[Survivor]:
    """Live processes of this run (tagged with its id, or descendants of this process), after
    giving them `grace` seconds to exit. This process and its ancestors are not counted."""
    tag = os.environ.get(TAG)
    deadline = time.monotonic() + grace
    while True:
        alive = _of_this_run(tag)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.2)


def descendants(root: int) -> list[Survivor]:
    """The live (non-zombie) processes under `root`, at any depth."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        _, state, command, _ = table[pid]
        if state != "Z":
            found.append(Survivor(pid, command))
    return sorted(found, key=lambda s: s.pid)


def kill(processes: list[Survivor]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


def _of_this_run(tag: str | None) -> list[Survivor]:
    me = os.getpid()
    table = _processes()
    ancestors, pid = set(), me
    while pid in table and pid not in ancestors:
        ancestors.add(pid)
        pid = table[pid][0]
    found = {s.pid: s for s in descendants(me)}
    if tag:
        marker = f"{TAG}={tag}".encode()
        for pid, (_, state, command, environ) in table.items():
            if state != "Z" and pid not in ancestors and marker in environ:
                found[pid] = Survivor(pid, command)
    return sorted(found.values(), key=lambda s: s.pid)


def _processes() -> dict[int, tuple[int, str, str, bytes]]:
    """pid -> (parent pid, state, command line, environment as exec'd) of every readable process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        table[int(entry.name)] = (int(ppid), state, command or f"[{name}]", environ)
    return table
