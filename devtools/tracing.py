"""The trace backend of the local topologies: Zipkin (its server jar from Maven Central, UI
included) behind an OpenTelemetry Collector (devtools/otelcol/, built here from the Go module
proxy) that takes OTLP/HTTP from every process and forwards it to Zipkin.

    python -m devtools.tracing build    fetch Zipkin and build the collector, once, into
                                        .cache/trace/ (mvn and go; about 2 CPU-minutes)
    python -m devtools.tracing status   whether it is built

`make split` starts it (devtools/split.py) and points every process at it; the split tests start
their own on free ports. `TraceBackend.trace(trace_id)` and `.find(tag, value)` read Zipkin's
HTTP API, as a test (or a person with curl) would.

Why these two: Jaeger's Go module ships only a placeholder UI (its UI is built from a separate
repository with npm, which no registry serves built), and Zipkin ingests Zipkin's own formats,
not OTLP; the collector is the standard bridge, and keeps the services' exporter plain OTLP —
any OTLP backend can replace the pair without touching them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools import processes
from devtools.processes import Proc

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "trace"
COLLECTOR_SOURCE = Path(__file__).resolve().parent / "otelcol"
ZIPKIN_VERSION = "3.5.1"
ZIPKIN_JAR = CACHE / f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"
COLLECTOR = CACHE / "otelcol"
MVN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# Spans kept in Zipkin's memory: a few thousand orders' worth, in a 256 MB heap.
ZIPKIN_MAX_SPANS = 200_000


def built() -> bool:
    return ZIPKIN_JAR.exists() and COLLECTOR.exists()


def build(*, quiet: bool = False) -> None:
    """Fetch Zipkin's server jar (Maven Central) and build the collector (Go module proxy) into
    .cache/trace/, each only if missing. Raises RuntimeError with the tool's output on failure."""
    CACHE.mkdir(parents=True, exist_ok=True)
    say = (lambda *_: None) if quiet else (lambda text: print(f"trace backend: {text}", flush=True))
    if not ZIPKIN_JAR.exists():
        started = time.monotonic()
        _run(
            [
                "mvn",
                "-B",
                "-q",
                f"{MVN_DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact=io.zipkin:zipkin-server:{ZIPKIN_VERSION}:jar:exec",
                f"-DoutputDirectory={CACHE}",
            ],
            cwd=CACHE,
            what="mvn (Zipkin's server jar from Maven Central)",
        )
        say(f"Zipkin {ZIPKIN_VERSION} fetched in {time.monotonic() - started:.0f}s")
    if not COLLECTOR.exists():
        started = time.monotonic()
        go = shutil.which("go") or "/usr/local/go/bin/go"
        # The source folder stays read-only: go.mod and go.sum pin every module.
        _run(
            [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(COLLECTOR), "."],
            cwd=COLLECTOR_SOURCE,
            what="go build (the OpenTelemetry Collector)",
            env={**os.environ, "GOFLAGS": "-mod=readonly"},
        )
        say(f"collector built in {time.monotonic() - started:.0f}s")


def _run(argv: list[str], *, cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


@dataclass
class TraceBackend:
    """Zipkin on `ui_port` (UI and API) and the collector's OTLP/HTTP receiver on `otlp_port`,
    both on loopback; logs in `run_dir`."""

    run_dir: Path
    ui_port: int = 9411
    otlp_port: int = 4318
    procs: dict[str, Proc] = field(default_factory=dict)

    UI = "trace-ui"
    COLLECTOR = "trace-collector"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_port}"

    def service_env(self, sampler_ratio: float = 1.0) -> dict[str, str]:
        """What a shop process needs to export its spans here (sampled at `sampler_ratio`)."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(sampler_ratio),
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans leave a process within 0.2 s
        }

    def start(self) -> list[Proc]:
        """Start Zipkin and the collector (build them first if needed); returns without waiting
        for Zipkin, which takes a while to boot: wait_ready() does that."""
        build()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        java = [
            "java",
            "-Xms64m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # boots in half the time; plenty fast for a dev trace UI
            "-jar",
            str(ZIPKIN_JAR),
            # Loopback only (Zipkin listens on every interface by default).
            f"--armeria.ports[0].port={self.ui_port}",
            "--armeria.ports[0].ip=127.0.0.1",
            "--armeria.ports[0].protocols[0]=http",
        ]
        zipkin_env = {
            **os.environ,
            "STORAGE_TYPE": "mem",
            "MEM_MAX_SPANS": str(ZIPKIN_MAX_SPANS),
        }
        collector_env = {
            **os.environ,
            "OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.otlp_port}",
            "ZIPKIN_ENDPOINT": f"{self.ui_url}/api/v2/spans",
        }
        config = COLLECTOR_SOURCE / "config.yaml"
        for name, argv, env in (
            (self.UI, java, zipkin_env),
            (self.COLLECTOR, [str(COLLECTOR), "--config", str(config)], collector_env),
        ):
            self.procs[name] = processes.spawn(
                name, argv, env=env, cwd=ROOT, log=self.run_dir / f"{name}.log"
            )
        return list(self.procs.values())

    def ready(self) -> bool:
        """Whether Zipkin answers and the collector is still running."""
        if any(not proc.alive() for proc in self.procs.values()):
            dead = [p.name for p in self.procs.values() if not p.alive()]
            raise RuntimeError(f"{', '.join(dead)} exited:\n{self.logs()}")
        try:
            with urllib.request.urlopen(f"{self.ui_url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout: float = 180) -> None:
        processes.wait_until(self.ready, timeout=timeout, interval=0.5, what="Zipkin", context=self.logs)

    def stop(self) -> None:
        for name in (self.COLLECTOR, self.UI):  # the collector first: it flushes to Zipkin
            if name in self.procs:
                processes.terminate(self.procs.pop(name), timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()[-3000:]}" for p in self.procs.values())

    # --- reading traces (Zipkin's API v2) ---------------------------------------------------------
    def trace(self, trace_id: str) -> list[dict]:
        """Every span of one trace, as Zipkin's JSON v2 (empty if it has none)."""
        return self._get(f"/api/v2/trace/{trace_id}", missing=[])

    def find(self, tag: str, value: str, *, lookback_seconds: int = 3600) -> list[list[dict]]:
        """The traces with a span tagged `tag`=`value` (e.g. request_id), newest first."""
        query = urllib.parse.urlencode(
            {
                "annotationQuery": f"{tag}={value}",
                "lookback": lookback_seconds * 1000,
                "endTs": int(time.time() * 1000),
                "limit": 10,
            }
        )
        return self._get(f"/api/v2/traces?{query}", missing=[])

    def trace_url(self, trace_id: str) -> str:
        """Where a person sees one trace in the UI."""
        return f"{self.ui_url}/zipkin/traces/{trace_id}"

    def _get(self, path: str, *, missing):
        try:
            with urllib.request.urlopen(f"{self.ui_url}{path}", timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return missing
            raise


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "build":
        started = time.monotonic()
        build()
        print(f"trace backend: ready in {CACHE} ({time.monotonic() - started:.0f}s)")
        return 0
    if command == "status":
        print(f"trace backend: {'built' if built() else 'not built'} ({CACHE})")
        return 0 if built() else 1
    print(f"usage: python -m devtools.tracing build|status (not {command!r})", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
