#!/usr/bin/env python
"""What tracing costs: bench.saga_latency three times — tracing off, sampled 100 %, sampled 10 %
— and its CPU per order side by side.

    .venv/bin/python -m bench.tracing_overhead [--rate 20] [--duration 30] [--warmup 5]

Each run is a whole saga_latency run (fresh cluster, warm-up, measured open-loop load) with the
same arguments; the traced runs export over OTLP to a real trace backend (devtools/tracing.py:
the OpenTelemetry Collector in front of Zipkin, started here on free ports) exactly as `make split`
does, with the SDK's default batching. Printed per run: the cluster's CPU per order (every
process of the cluster and its Postgres backends, as saga_latency counts it), the trace
backend's CPU per order (collector + Zipkin, /proc), and POST -> CONFIRMED p50/p99. The overhead
column is each traced run's cluster CPU per order over the untraced one's. saga_latency's own
output of each run goes to --log-dir.

A benchmark: it asserts nothing. On a shared machine the figures move with the neighbours' load:
the load average is printed with each run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import stop_cleanly_on_sigterm
from devtools.cluster import ROOT
from devtools.http import free_port
from devtools.tracing import TraceBackend

CLK_TCK = os.sysconf("SC_CLK_TCK")
MODES = (("off", None), ("100 %", 1.0), ("10 %", 0.1))


def cpu_seconds(pid: int) -> float:
    """CPU seconds of one process and its reaped children so far (utime+stime+cutime+cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


def run_once(args, mode: str, ratio: float | None, backend: TraceBackend, log_dir: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.saga_latency",
        "--rate",
        str(args.rate),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
    ]
    if ratio is not None:
        pairs = {**backend.service_env(ratio), "OTEL_BSP_SCHEDULE_DELAY": "5000"}  # the SDK's default
        for role in ("relay", "consumer", "web"):
            command += [arg for key, value in pairs.items() for arg in (f"--{role}-env", f"{key}={value}")]
    pids = [proc.popen.pid for proc in backend.procs.values()]
    before = sum(cpu_seconds(pid) for pid in pids)
    load = os.getloadavg()[0]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = child.communicate(timeout=3600)
    except BaseException:
        child.terminate()  # its own SIGTERM handling stops its cluster and drops its databases
        child.communicate()
        raise
    backend_cpu = sum(cpu_seconds(pid) for pid in pids) - before
    log = log_dir / f"saga_latency-{mode.replace(' ', '').replace('%', 'pct')}.txt"
    log.write_text(out + err)
    if child.returncode not in (0, 2):
        raise SystemExit(f"saga_latency failed ({mode}), see {log}")
    accepted = int(re.search(r"(\d+) accepted", out).group(1))
    per_order = re.search(r"= this cluster, per order\s+([\d.]+)", out)
    confirmed = re.search(r"POST->CONFIRMED\s+p50\s+([\d.]+)\s+p95\s+[\d.]+\s+p99\s+([\d.inf]+)", out)
    return {
        "mode": mode,
        "orders": accepted,
        "cluster_ms": float(per_order.group(1)) if per_order else float("nan"),
        # The backend only works for traced runs; its idle tick is counted too (a few ms a second).
        "backend_ms": backend_cpu * 1000 / accepted if accepted else float("nan"),
        "confirmed": (confirmed.group(1), confirmed.group(2)) if confirmed else ("?", "?"),
        "load": load,
        "log": log,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--log-dir", type=Path, default=None)
    args = parser.parse_args()
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="tracing_overhead_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    backend = TraceBackend(log_dir / "trace", ui_port=free_port(), otlp_port=free_port())
    stop_cleanly_on_sigterm()
    backend.start()
    try:
        backend.wait_ready()
        results = [run_once(args, mode, ratio, backend, log_dir) for mode, ratio in MODES]
    finally:
        backend.stop()
    base = results[0]["cluster_ms"]
    print(
        "tracing_overhead: bench.saga_latency with tracing off, sampled 100 % and 10 %"
        " (OTLP -> collector -> Zipkin)"
    )
    print(f"date        {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; {os.cpu_count()} CPUs")
    print(f"command     .venv/bin/python -m bench.tracing_overhead {' '.join(sys.argv[1:])}")
    run = f"--rate {args.rate:g} --duration {args.duration:g} --warmup {args.warmup:g}"
    print(f"each run    python -m bench.saga_latency {run}")
    print()
    print(
        f"{'tracing':10}{'orders':>8}{'cluster CPU/order':>19}{'overhead':>10}{'backend CPU/order':>19}"
        f"{'CONFIRMED p50':>15}{'p99':>8}{'load avg':>10}"
    )
    for r in results:
        overhead = (r["cluster_ms"] / base - 1) * 100 if base else float("nan")
        print(
            f"{r['mode']:10}{r['orders']:8d}{r['cluster_ms']:16.1f} ms{overhead:+9.1f}%"
            f"{r['backend_ms']:16.1f} ms{r['confirmed'][0]:>12} ms{r['confirmed'][1]:>8}{r['load']:10.2f}"
        )
    print(f"\nsaga_latency's full output of each run: {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
