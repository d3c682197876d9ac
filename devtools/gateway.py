"""The gateway of a local split topology: nginx configured from docker/gateway/nginx.conf.template
(the template compose uses), started as a process, re-routed and reloaded without a restart.

Routes are the template's `<SERVICE>_SERVERS` upstream lists: `route("catalog", [18201])` sends
`/api/catalog/` to those ports on the next `reload()` (nginx re-reads its configuration and keeps
serving: requests in flight finish on the old routes).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from devtools.services import nginx_binary

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "docker" / "gateway" / "nginx.conf.template"
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# A replica leaves the rotation after 3 failed attempts within 10 s, for 10 s. Not after 1: the
# requests cut off when one replica dies, or a single reset, must not also take its healthy
# peers out (with max_fails=1 one unlucky reset per replica left a service with no replica).
# A refused connection is retried on the next replica, so a dead one costs clients nothing but
# the requests it was in the middle of.
UPSTREAM_HEALTH = "max_fails=3 fail_timeout=10s"
# The template's defaults for local topologies (compose passes its own).
DEFAULTS = {
    "GATEWAY_RATE": "50r/s",
    "GATEWAY_BURST": "100",
    "GATEWAY_AUTH_RATE": "5r/s",
    "GATEWAY_AUTH_BURST": "10",
    "GATEWAY_RESOLVER": "# fixed loopback addresses: no resolver",
}


def render(values: dict[str, str], template: Path = TEMPLATE) -> str:
    """The gateway's nginx.conf: the template with its ${UPPER_CASE} placeholders filled in
    (what envsubst does in the nginx image); nginx's own $variables are left alone. Raises
    KeyError naming every placeholder without a value."""
    text = template.read_text()
    missing = set(_PLACEHOLDER.findall(text)) - values.keys()
    if missing:
        raise KeyError(f"the gateway template needs values for {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def upstream_servers(ports: Sequence[int], host: str = "127.0.0.1") -> str:
    """An upstream block's server lines for replicas on `ports`, with the gateway's failure
    threshold (UPSTREAM_HEALTH: docker/compose.yaml uses the same). No ports: the route is
    switched off (during a cut-over): a server marked down, which nginx answers with its JSON
    502 "The service is unavailable." """
    if not ports:
        return f"server {host}:1 down;"
    return " ".join(f"server {host}:{p} {UPSTREAM_HEALTH};" for p in ports)


class Gateway:
    """nginx for one topology, its files under `prefix` (nginx.conf, pid, temp folders)."""

    def __init__(self, prefix: Path, *, port: int, routes: dict[str, Sequence[int]], values: dict[str, str]):
        self.prefix = prefix
        self.port = port
        self.routes = {service: list(ports) for service, ports in routes.items()}
        self.values = values  # template values over DEFAULTS
        self.conf = prefix / "nginx.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, service: str, ports: Sequence[int]) -> None:
        """Send `service`'s path prefix to replicas on `ports`, or nowhere (502) for no ports;
        effective after reload()."""
        self.routes[service] = list(ports)

    def write_config(self) -> Path:
        """Render the configuration for the current routes into prefix/nginx.conf."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        values = {
            **DEFAULTS,
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "NGINX_RUN_DIR": str(self.prefix),
            **{
                f"{service.upper()}_SERVERS": upstream_servers(ports)
                for service, ports in self.routes.items()
            },
            **self.values,
        }
        self.conf.write_text(render(values))
        return self.conf

    def argv(self) -> list[str]:
        """The command that runs nginx in the foreground on this configuration."""
        return [*self._nginx(), "-g", "daemon off;"]

    def check(self) -> None:
        """`nginx -t` on the written configuration; raises RuntimeError with nginx's complaint."""
        self._run("-t", "-q")

    def reload(self) -> None:
        """Write the configuration for the current routes, check it, and have the running nginx
        load it (`nginx -s reload`): no restart; requests in flight finish on the old routes."""
        self.write_config()
        self.check()
        master = self._master()
        serving = _workers(master, shutting_down=False) if master else []
        self._run("-s", "reload")
        # `nginx -s reload` only signals the master: until each old worker has taken the signal it
        # still accepts requests on the old routes. Return once none does (a route switched off
        # is off from here on, which the cut-over's figures count on).
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and set(serving) & set(_workers(master, shutting_down=False)):
            time.sleep(0.02)

    def settle(self, timeout: float = 15.0) -> None:
        """After a reload, wait until nginx's old workers have finished the requests they held:
        until then they may still proxy to the old routes, so whatever those routes point at must
        keep running (a process replaced behind the gateway is stopped only after this)."""
        master = self._master()
        deadline = time.monotonic() + timeout
        while master and time.monotonic() < deadline and _workers(master, shutting_down=True):
            time.sleep(0.05)

    def _master(self) -> int | None:
        try:
            return int((self.prefix / "nginx.pid").read_text())
        except (OSError, ValueError):
            return None

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._nginx(), *args], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"nginx {' '.join(args)}: {done.stderr.strip()}")

    def _nginx(self) -> list[str]:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed: scripts/split-local nginx (apt-get install nginx)")
        return [binary, "-p", str(self.prefix), "-c", str(self.conf), "-e", "stderr"]


def _workers(master: int, *, shutting_down: bool) -> list[int]:
    """Pids of nginx workers of `master`: those still finishing their requests after a reload
    (`shutting_down`), or those taking new ones."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != master:
                continue
            title = (stat.parent / "cmdline").read_bytes()
            if b"worker process" in title and (b"shutting down" in title) == shutting_down:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found
