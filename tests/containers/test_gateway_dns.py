"""The gateway (the compose nginx image, docker/gateway/nginx.conf.template) while a replica's
address vanishes: what a client sees when `docker stop` takes one web replica away and the
gateway's DNS view of the service changes under requests in flight.

Made deterministic on loopback, nginx on the host network: a DNS server here answers the
service's name; one "replica" is an address whose connections hang (a listener with a full accept
queue drops every SYN, as a stopped container's vanished address does), the others are small HTTP
servers that count what they receive.
"""

from __future__ import annotations

import http.server
import json
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from devtools.compose import docker, engine_answers
from devtools.gateway import DEFAULTS, ROOT, UPSTREAM_HEALTH, render
from devtools.http import Api, free_port, http_status
from tests.needs import require

pytestmark = [pytest.mark.containers]
SERVICE = "orders.gateway.test"
HANGS, LIVE, RESETS = "127.0.0.2", "127.0.0.3", "127.0.0.4"


class Dns:
    """A DNS server for one name, on 127.0.0.1: its A records are `addresses`, changed at will;
    `asked` is set on every question (nginx asks again every `valid` seconds)."""

    def __init__(self, addresses: list[str]):
        self.addresses = list(addresses)
        self.asked = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                wire, client = self.sock.recvfrom(512)
            except OSError:  # closed
                return
            query = dns.message.from_wire(wire)
            answer = dns.message.make_response(query)
            question = query.question[0]
            if question.rdtype == dns.rdatatype.A and question.name.to_text().rstrip(".") == SERVICE:
                answer.answer.append(dns.rrset.from_text_list(question.name, 0, "IN", "A", self.addresses))
            self.sock.sendto(answer.to_wire(), client)
            self.asked.set()

    def next_question(self, timeout: float = 10) -> float:
        """Wait for nginx's next question; its time (monotonic)."""
        self.asked.clear()
        assert self.asked.wait(timeout), "nginx did not ask the DNS server again"
        return time.monotonic()

    def close(self) -> None:
        self.sock.close()


class Replica(http.server.ThreadingHTTPServer):
    """An orders replica that answers every POST 201, or (`reset`) reads it and resets the
    connection instead of answering. `received` is every body it read."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, reset: bool = False):
        self.received: list[bytes] = []
        self.reset = reset
        super().__init__(address, _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Replica

    def do_POST(self):
        self.server.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        if self.server.reset:
            # SO_LINGER on, 0 s: closing the connection resets it
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        body = b'{"id": 1}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def hanging_listener(port: int) -> list[socket.socket]:
    """A listener on HANGS:port whose accept queue is full: a connection attempt gets no answer."""
    listener = socket.socket()
    listener.bind((HANGS, port))
    listener.listen(0)
    held = [listener]
    while True:
        attempt = socket.socket()
        attempt.settimeout(0.3)
        try:
            attempt.connect((HANGS, port))
        except TimeoutError:
            attempt.close()
            return held
        held.append(attempt)


def nginx_image() -> str:
    """The gateway's image as compose runs it (the official one, or the local stand-in)."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "compose-local"), "images"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)["NGINX_IMAGE"]


class Gateway:
    """The nginx container on the host network, listening on 127.0.0.1:port."""

    def __init__(self, port: int, container: str):
        self.url = f"http://127.0.0.1:{port}"
        self.container = container

    def post(self) -> tuple[int, dict, str]:
        """POST /api/orders/: (status, body, request id)."""
        status, headers, body = Api(self.url).request_with_headers(
            "POST", "/api/orders/", {"items": []}, timeout=20
        )
        return status, body, headers["X-Request-ID"]

    def entry(self, request_id: str) -> dict:
        """The gateway's access-log line of one request."""
        for _ in range(50):
            out = docker("logs", self.container).stdout
            for line in out.splitlines():
                if request_id in line:
                    return json.loads(line)
            time.sleep(0.1)
        raise AssertionError(f"no gateway log line for {request_id}")


@pytest.fixture
def replicas() -> Iterator[tuple[int, dict[str, Replica]]]:
    port = free_port()
    held = hanging_listener(port)
    servers = {LIVE: Replica((LIVE, port)), RESETS: Replica((RESETS, port), reset=True)}
    try:
        yield port, servers
    finally:
        for server in servers.values():
            server.stop()
        for sock in held:
            sock.close()


@pytest.fixture
def gateway(tmp_path: Path, replicas) -> Iterator[tuple[Gateway, Dns]]:
    require("A Docker engine", engine_answers(), "scripts/compose-local engine")
    port, _ = replicas
    resolver = Dns([HANGS, LIVE])
    listen = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        render(
            {
                **DEFAULTS,
                "GATEWAY_LISTEN": f"127.0.0.1:{listen}",
                "NGINX_RUN_DIR": "/tmp",
                # Asked again every second (compose: every 10 s), as compose.yaml's gateway does.
                "GATEWAY_RESOLVER": f"resolver 127.0.0.1:{resolver.port} valid=1s ipv6=off;",
                "ORDERS_SERVERS": f"server {SERVICE}:{port} resolve {UPSTREAM_HEALTH};",
                **{f"{s}_SERVERS": "server 127.0.0.1:1 down;" for s in ("SHOP", "CATALOG", "DELIVERY")},
            }
        )
    )
    conf.chmod(0o644)
    container = f"shoptest-gateway-{listen}"
    docker(
        "run", "-d", "--rm", "--name", container, "--network", "host",
        "-v", f"{conf}:/etc/nginx/gateway.conf:ro",
        nginx_image(), "nginx", "-c", "/etc/nginx/gateway.conf", "-g", "daemon off;",
    )  # fmt: skip
    try:
        gw = Gateway(listen, container)
        deadline = time.monotonic() + 30
        while http_status(f"{gw.url}/healthz", timeout=1) != 200:
            assert time.monotonic() < deadline, docker("logs", container, check=False).stderr
            time.sleep(0.2)
        yield gw, resolver
    finally:
        docker("rm", "-f", container, check=False)
        resolver.close()


def test_a_request_waiting_on_a_vanished_replica_when_dns_drops_it_is_served_by_a_live_one(gateway, replicas):
    """nginx gives up on a request whose replica set changes while it waits to connect (it
    answered 504 with the one address it tried: the container suite saw it when a replica
    stopped). The gateway sends such a request once more, on the set as it is now."""
    gw, resolver = gateway
    _, servers = replicas
    for _attempt in range(5):
        resolver.addresses = [HANGS, LIVE]
        resolver.next_question()
        asked = resolver.next_question()  # nginx knows both addresses, and asks every `period`
        period = resolver.next_question() - asked
        # The replica vanishes from DNS; until nginx's next question, it still sends requests
        # there, and each waits out proxy_connect_timeout (2 s) across that question.
        time.sleep(max(0.0, period - 0.7))
        resolver.addresses = [LIVE]
        for _ in range(2):  # round robin: one of two goes to the vanished address
            before = len(servers[LIVE].received)
            started = time.monotonic()
            status, body, request_id = gw.post()
            if time.monotonic() - started > 1:
                break
            assert (status, len(servers[LIVE].received)) == (201, before + 1), body
        else:
            raise AssertionError("no request went to the vanished address")
        entry = gw.entry(request_id)
        assert (status, body) == (201, {"id": 1}), entry
        assert len(servers[LIVE].received) == before + 1  # once
        if ", " in entry["upstream"]:
            continue  # nginx's own next-upstream retry: the question came after the timeout, again
        # Two proxied passes (nginx separates them with " : "): the vanished address, then the live one.
        port = replicas[0]
        assert entry["upstream"] == f"{HANGS}:{port} : {LIVE}:{port}", entry
        return
    pytest.fail("the DNS change never landed while a request waited on the vanished address")


def test_a_request_a_replica_received_is_never_sent_again(gateway, replicas):
    """The other side of that retry: a POST that reached a replica (which then reset the
    connection without answering) may have been acted on; the client gets the gateway's 502 and
    no other replica ever sees it."""
    gw, resolver = gateway
    _, servers = replicas
    resolver.addresses = [RESETS, LIVE]
    resolver.next_question()
    resolver.next_question()  # nginx has both
    for _ in range(2):  # round robin: one of two goes to the replica that resets
        before = {address: len(server.received) for address, server in servers.items()}
        status, body, request_id = gw.post()
        if len(servers[RESETS].received) > before[RESETS]:
            break
    else:
        raise AssertionError("no request went to the replica that resets")
    assert (status, body["code"], body["request_id"]) == (502, "bad_gateway", request_id), body
    assert len(servers[RESETS].received) == before[RESETS] + 1
    assert len(servers[LIVE].received) == before[LIVE], "the POST was sent to a second replica"
    assert gw.entry(request_id)["upstream"] == f"{RESETS}:{replicas[0]}"
