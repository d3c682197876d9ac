"""A tiny JSON-over-HTTP client and the socket helpers of tools and tests that drive real servers."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any


class Api:
    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 10) -> tuple[int, Any]:
        status, _, payload = self.request_with_headers(method, path, body, timeout=timeout)
        return status, payload

    def request_with_headers(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict[str, str], Any]:
        """(status, response headers, JSON body or text) — errors are answers too, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                raw = response.read()
                return response.status, dict(response.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, dict(err.headers), json.loads(raw)
            except ValueError:
                return err.code, dict(err.headers), raw.decode(errors="replace")

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body: Any = None):
        return self.request("POST", path, body if body is not None else {})

    def login(self, username: str, password: str) -> Api:
        status, body = self.post("/api/auth/token/", {"username": username, "password": password})
        assert status == 200, body
        return Api(self.base_url, body["access"])

    def wait_for(self, path: str, predicate, *, timeout: float = 60, interval: float = 0.1):
        """Poll GET path until predicate(body) holds; returns the body (fails with the last one)."""
        deadline = time.monotonic() + timeout
        body = None
        while time.monotonic() < deadline:
            status, body = self.get(path)
            if status == 200 and predicate(body):
                return body
            time.sleep(interval)
        raise AssertionError(f"{path} never satisfied the condition within {timeout}s; last: {body}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port: int, timeout: float = 60, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port} after {timeout}s")


def http_status(url: str, timeout: float = 3) -> int | None:
    """The status of GET `url` (an error status too), or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def exchange_raw(port: int, request: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as raw bytes to 127.0.0.1:`port` (a request no HTTP client would send: a
    request line of 70 KB, a malformed one) and read until the server closes: the status, the
    headers (lower-case names) and the body of its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body
