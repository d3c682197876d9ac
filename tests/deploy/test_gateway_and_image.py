"""The gateway template as make split renders it (every placeholder given; `nginx -t` accepts it),
and the image: docker/Dockerfile copies only what exists and Dockerfile.dockerignore lets
through, its runtime stage runs as a non-root user, no secret is set in it."""

from __future__ import annotations

import json
import os
import re

import pytest

from devtools import processes
from devtools.gateway import Gateway
from devtools.http import exchange_raw, free_port, wait_until_listening
from devtools.services import nginx_binary
from shop.topology import SERVICES
from tests.deploy.files import DOCKERFILE, ROOT, SECRET_NAME
from tests.needs import require


@pytest.fixture
def gateway(tmp_path) -> Gateway:
    return Gateway(
        tmp_path,
        port=18999,
        routes={s: [18901 + n] for n, s in enumerate(SERVICES)},
        values={"GATEWAY_RESOLVER": "# none"},
    )


def test_the_gateway_template_renders_with_every_placeholder_given(gateway):
    assert gateway.write_config().exists()  # KeyError naming each placeholder without a value


def test_nginx_accepts_the_rendered_gateway(gateway):
    require("nginx", nginx_binary() is not None, "scripts/split-local nginx")
    gateway.write_config()
    gateway.check()  # RuntimeError with nginx -t's output


def test_what_nginx_refuses_while_reading_a_request_is_a_json_error(tmp_path):
    """A request line or a header over 8 KiB, or a malformed request, is refused by the gateway
    itself before any route: in the JSON error shape, like the services' own refusals."""
    require("nginx", nginx_binary() is not None, "scripts/split-local nginx")
    port = free_port()
    gateway = Gateway(tmp_path, port=port, routes={s: [free_port()] for s in SERVICES}, values={})
    gateway.write_config()
    nginx = processes.spawn(
        "gateway", gateway.argv(), env=dict(os.environ), cwd=tmp_path, log=tmp_path / "nginx.log"
    )
    try:
        wait_until_listening(port, process=nginx.popen)
        refused = {
            414: b"GET /api/catalog/products/?search=" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            431: b"GET /api/orders/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + b"x" * 10_000
            + b"\r\n\r\n",
            400: b"GET\r\n\r\n",
        }
        codes = {414: "uri_too_long", 431: "header_too_large", 400: "bad_request"}
        for expected, request in refused.items():
            status, headers, body = exchange_raw(port, request)
            assert (status, headers["content-type"]) == (expected, "application/json"), body[:300]
            error = json.loads(body)
            assert error["code"] == codes[expected]
            assert error["request_id"] == headers["x-request-id"]
    finally:
        processes.terminate(nginx)


def dockerfile_lines() -> list[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_is_built_in_stages_and_runs_as_a_non_root_user():
    lines = dockerfile_lines()
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(stages) >= 2, "expected a multi-stage build (builder + runtime)"
    users = [line.split()[1] for line in lines[stages[-1] :] if line.upper().startswith("USER ")]
    assert users, "the runtime stage must end as a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0"), "the runtime stage must end as a non-root USER"


def test_the_image_copies_only_what_exists_and_the_dockerignore_lets_through():
    allowed = [
        line[1:].rstrip("/")
        for line in (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    problems = []
    for line in dockerfile_lines():
        parts = line.split()
        if parts[0].upper() == "COPY" and not any(p.startswith("--from") for p in parts):
            for source in [p for p in parts[1:-1] if not p.startswith("--")]:
                if not (ROOT / source).exists():
                    problems.append(f"COPY {source}: no such file")
                elif source.rstrip("/") not in allowed:
                    problems.append(f"COPY {source}: excluded by Dockerfile.dockerignore")
    assert problems == []


def test_no_secret_is_set_in_the_image():
    secrets = [
        line
        for line in dockerfile_lines()
        if line.split()[0].upper() in ("ENV", "ARG") and SECRET_NAME.search(line)
    ]
    assert secrets == []
