"""A request the web server refuses before Django sees it — a request line or headers over its
limits, a malformed request line — is answered in the API's JSON error shape by both servers the
project runs: runserver (`make run`) and gunicorn (shapes 2 and 3). Their own pages are HTML."""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator

import pytest

from devtools import processes
from devtools.cluster import ROOT
from devtools.http import exchange_raw, free_port, wait_until_listening
from devtools.migration import Monolith

pytestmark = pytest.mark.e2e

# Each over a limit of both servers: runserver reads a request line of at most 64 KiB and a header
# line of at most 64 KiB, gunicorn 4094 and 8190 bytes; both take at most 100 headers.
REFUSED = {
    "a request line too long": (
        b"GET /api/catalog/products/?search=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        414,
    ),
    "a header too long": (
        b"GET /api/orders/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + b"x" * 70_000
        + b"\r\n\r\n",
        431,
    ),
    "too many headers": (
        b"GET /api/orders/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-Padding-%d: 1\r\n" % n for n in range(120))
        + b"\r\n",
        431,
    ),
    "a malformed request line": (b"GET\r\n\r\n", 400),
}


@pytest.fixture(scope="module", params=["runserver", "gunicorn"])
def server_port(request, data_dir) -> Iterator[int]:
    """`make run`'s runserver, or gunicorn with the repository's gunicorn.conf.py, on the
    monolith's data folder."""
    monolith = Monolith(data_dir)
    if request.param == "runserver":
        monolith.start()
        try:
            yield monolith.port
        finally:
            monolith.stop()
        return
    port = free_port()
    command = f"-m gunicorn shop.wsgi:application --bind 127.0.0.1:{port} --workers 1"
    proc = processes.spawn(
        "gunicorn",
        [sys.executable, *command.split()],
        env=monolith.env(),
        cwd=ROOT,  # where gunicorn.conf.py is read from
        log=data_dir / f"gunicorn-{port}.log",
    )
    try:
        wait_until_listening(port, process=proc.popen)
        yield port
    finally:
        processes.terminate(proc)


@pytest.mark.parametrize("case", REFUSED)
def test_a_request_the_server_refuses_is_a_json_error(server_port, case):
    request, expected = REFUSED[case]

    status, headers, body = exchange_raw(server_port, request)

    assert status == expected, body[:300]
    assert headers["content-type"] == "application/json", body[:300]
    error = json.loads(body)
    assert set(error) == {"detail", "code", "request_id"}
    assert error["code"] == {400: "bad_request", 414: "uri_too_long", 431: "header_too_large"}[expected]


def test_a_request_in_a_charset_that_is_not_utf_8_is_a_json_415(server_port):
    """Django decoded the query string with it while building the request: with rot13 (bytes
    to bytes) the server answered with its own plain-text 500 (shop/charsets.py)."""
    conn = http.client.HTTPConnection("127.0.0.1", server_port, timeout=10)
    try:
        conn.request(
            "GET", "/api/catalog/products/?search=mug", headers={"Content-Type": "text/plain; charset=rot13"}
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()

    assert response.status == 415, body[:300]
    assert response.headers["Content-Type"] == "application/json", body[:300]
    assert json.loads(body)["code"] == "unsupported_media_type"
