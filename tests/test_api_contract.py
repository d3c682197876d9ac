"""The API keeps the contract it publishes: schemathesis against the monolith's OpenAPI schema.

Every operation of /api/schema/ gets generated requests — the schema's examples, the coverage
phase (boundaries, missing and wrong-typed values of every parameter and field) and fuzzing —
sent in-process through the whole WSGI stack (middleware, authentication, routing, the views,
the databases of the suite: SQLite here, Postgres in the Postgres suite). Bounded and
reproducible: MAX_EXAMPLES per operation and phase, a fixed seed, derandomized. Once as an
anonymous caller, once with a customer's token and once with staff's.

The test fails on any server error, any response whose status the operation does not document,
whose body does not match its documented schema, or whose content type or documented headers
are wrong, and on schema-invalid input that is accepted. The count of requests sent is printed.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shop import charsets
from tests.factories import create_product, place_order

MAX_EXAMPLES = 25
SEED = 20261202
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        "phases": {"stateful": {"enabled": False}},
    }
)

# The project's WSGI application, as gunicorn and runserver serve it (shop/wsgi.py).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", charsets.WSGIHandler(), config=CONFIG)
pytestmark = pytest.mark.django_db(databases="__all__")


class _Count:
    """Counts the requests sent and says so at the end of the run (a plugin, registered once)."""

    def __init__(self):
        self.cases = 0
        self.seconds = 0.0

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(
            f"schemathesis: {self.cases} requests against the API schema in {self.seconds:.0f}s "
            f"(seed {SEED}, at most {MAX_EXAMPLES} examples a phase)"
        )


@pytest.fixture
def count(request) -> _Count:
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("shop-schemathesis-count"):
        plugins.register(_Count(), "shop-schemathesis-count")
    return plugins.get_plugin("shop-schemathesis-count")


@pytest.fixture
def api_world(staff_api, customer_api, drain):
    """Something behind the ids the generator tries first (1, 2...): a product, an order with its
    shipment. And the WSGI app keeps the test's database connections between requests, as
    Django's test client does (request_finished would close them under the test's transaction)."""
    create_product(staff_api, sku="CONTRACT-1", stock=1_000)
    drain()
    place_order(customer_api, [(1, 1)])
    drain()
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=["anonymous", "customer", "staff"])
def auth_headers(request, customer_api, staff_api) -> dict[str, str]:
    client = {"anonymous": None, "customer": customer_api, "staff": staff_api}[request.param]
    return {"Authorization": client._credentials["HTTP_AUTHORIZATION"]} if client else {}


@schema.parametrize()
@hypothesis_settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_api_answers_as_its_schema_says(case, api_world, auth_headers, count):
    # The case's own Authorization (a generated, usually bad, token) wins over the role's.
    headers = {} if "Authorization" in (case.headers or {}) else auth_headers
    started = time.monotonic()
    try:
        case.call_and_validate(headers=headers, checks=CHECKS)
    finally:
        count.cases += 1
        count.seconds += time.monotonic() - started
