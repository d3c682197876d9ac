"""What the benchmarks share: Django set up for one role, percentiles, Markdown tables, Kafka
clean-up, py-spy profiles. Postgres databases and local processes come from devtools (devtools/postgres.py,
devtools/cluster.py), as for the tests."""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def setup_django(**environment: str) -> None:
    """Set up Django in this process the way a production process of one role runs: DEBUG off
    (it would keep every query in memory), no in-process relay or Celery worker, quiet logs, and
    `environment` (the role's databases, transport, ...) on top."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    os.environ["EVENTS_RELAY_IN_PROCESS"] = "0"
    os.environ["CELERY_IN_PROCESS_WORKER"] = "0"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.update(environment)
    import django

    django.setup()


@functools.cache
def interpreter() -> str:
    """Which Python ran (every process a benchmark starts runs sys.executable too) and how fast it
    is: the same code costs ~15 % more CPU per order on an interpreter built without PGO and LTO
    around a shared libpython (pyenv's default build) than on one built like the official python
    images or Debian's (bench/README.md, "Which Python"). Printed with every run, so that figures
    are compared between runs of the same interpreter on the same machine. Measured once, on the
    first call: a benchmark calls it before its load and prints it with its figures."""
    real = os.path.realpath(sys.executable)
    with open("/proc/self/maps") as maps:
        shared = any("/libpython" in line for line in maps)
    linked = "libpython shared" if shared else "libpython built in"
    return (
        f"{platform.python_version()} {real} ({linked}),"
        f" {1000 * reference_loop():.0f} ms per reference loop (pure Python; lower is faster)"
    )


def reference_loop(repeat: int = 5) -> float:
    """CPU seconds of a fixed pure-Python workload (JSON, dicts, strings, calls: what a request or
    an event costs us), the best of `repeat`: the interpreter's and the machine's speed in one
    figure: 57 ms with Debian's python3.11, 79 with pyenv's build, on the 2-core machine of
    bench/RESULTS.md's issue-14 sections."""
    data = {f"k{i}": {"id": i, "name": "x" * 20, "lines": list(range(5))} for i in range(100)}

    def work() -> int:
        total = 0
        for _ in range(300):
            decoded = json.loads(json.dumps(data))
            for key, value in decoded.items():
                total += len(key) + len(str(value["id"])) + sum(value["lines"])
        return total

    best = math.inf
    for _ in range(repeat):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list (inf counts as the largest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def markdown_table(header: list[str], rows: list[list], right: set[int]) -> str:
    """A Markdown table, columns padded to their widest cell; the `right` columns right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list) -> str:
        return (
            "| "
            + " | ".join(
                str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i])
                for i, c in enumerate(cells)
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def human(n: int) -> str:
    """1000 -> 1k, 100000 -> 100k; other numbers as they are."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def delete_topics(bootstrap: str | list[str], names: list[str], *, groups: list[str] = ()) -> None:
    """Delete these topics (those that exist) and consumer groups from a shared broker."""
    import contextlib

    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shop-bench", request_timeout_ms=5000)
    try:
        if groups:
            with contextlib.suppress(Exception):  # a group that never committed does not exist
                admin.delete_groups(list(groups))
        doomed = [n for n in names if n in set(admin.list_topics())]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def process_cpu(pid: int) -> float:
    """user + system CPU seconds of process `pid`, all its threads (from /proc)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PySpy:
    """Sample processes with py-spy (PyPI: `pip install py-spy`) while a benchmark loads them:
    where each process spends its CPU, from outside, without changing the code measured.

    start() attaches one `py-spy record --gil --nonblocking` per process (children too:
    gunicorn's workers), writing collapsed stacks (`--format raw`) to <folder>/<name>.txt; stop()
    ends them (py-spy writes its file on SIGINT); report() reads the files back. Only the thread
    holding the GIL is sampled: the Python code running. A thread waiting for the database or
    the broker has released the GIL and is not counted, even when a loaded machine leaves it
    runnable but not running (which py-spy's idle heuristic would count as busy)."""

    def __init__(self, folder: Path | str, rate: int = 100):
        self.folder = Path(folder)
        self.rate = rate
        self.procs: dict[str, subprocess.Popen] = {}

    @staticmethod
    def available() -> str | None:
        """The py-spy executable beside this Python, or on PATH."""
        beside = Path(sys.executable).parent / "py-spy"
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def start(self, pids: dict[str, int]) -> None:
        spy = self.available()
        if spy is None:
            raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            argv = [spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking", "--rate"]
            argv += [str(self.rate), "--format", "raw", "--output", str(self.folder / f"{name}.txt")]
            with open(self.folder / f"{name}.log", "wb") as log:  # the child keeps its own copy
                self.procs[name] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def report(self, top: int = 12, width: int = 100) -> str:
        """Per process: its samples, then the functions with most samples on the stack (their
        whole subtree, 'incl') and at the top of it ('self'), in percent of its samples."""
        out = []
        for name in self.procs:
            total, inclusive, own = collapsed_stats(self.folder / f"{name}.txt")
            out.append(f"{name}: {total} samples at {self.rate}/s ({self.folder / (name + '.txt')})")
            if not total:
                continue
            out.append(f"  {'incl%':>6} {'self%':>6}  function (file)")
            for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
                out.append(
                    f"  {100 * n / total:6.1f} {100 * own.get(frame, 0) / total:6.1f}  {frame[:width]}"
                )
            out.append("  by self time:")
            for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
                out.append(f"  {100 * inclusive[frame] / total:6.1f} {100 * n / total:6.1f}  {frame[:width]}")
        return "\n".join(out)


def collapsed_stats(path: Path) -> tuple[int, dict[str, int], dict[str, int]]:
    """(samples, {function: samples with it anywhere on the stack}, {function: samples with it on
    top}) of a collapsed-stack file (`frame;frame;... count`). Functions without line numbers,
    so one function's lines add up; the process/thread frames py-spy adds are left out."""
    total, inclusive, own = 0, Counter(), Counter()
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0, {}, {}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [
            re.sub(r":\d+\)$", ")", f)
            for f in stack.split(";")
            if f and not f.startswith(("process ", "thread "))
        ]
        if not frames:
            continue
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    return total, dict(inclusive), dict(own)


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM (a timeout, a supervisor, kill) becomes KeyboardInterrupt, so a benchmark stopped
    that way still runs its finally blocks: its processes stopped, its databases dropped."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
