"""One setting selects a service: a process started with SHOP_SERVICES=<name> configures only that
service's databases, serves only its URLs, verifies tokens with the public key alone, checks only
its own databases in /readyz, consumes only its own events and queues only its own tasks.

Settings are read once per process, so each service is looked at in a process of its own
(tests/split/probe.py), all four at once; nothing here needs Postgres or Kafka.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from devtools.cluster import manage, python
from shop.identity.keys import generate_pem_pair

SERVICES = ("shop", "catalog", "orders", "delivery")


def _token(private_key: str, *, user_id: int, staff: bool) -> str:
    """An access token as the identity service issues it (simplejwt's claims plus ours)."""
    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user_id),
        "username": f"user{user_id}",
        "is_staff": staff,
        "iss": "shop",
        "aud": "shop",
    }
    return jwt.encode(claims, private_key, algorithm="RS256")


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[str, dict]:
    private, public = generate_pem_pair()
    tokens = {
        "staff": _token(private, user_id=1, staff=True),
        "customer": _token(private, user_id=2, staff=False),
    }
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL_", "EVENTS_", "CELERY_", "JWT_", "PYTEST_", "SHOP_"))
    }

    def run(service: str) -> dict:
        env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "SHOP_ENV": "test",
            "SHOP_SERVICES": service,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "SHOP_DATA_DIR": str(tmp_path_factory.mktemp(service)),
            "JWT_PUBLIC_KEY": public,
            "PROBE_TOKENS": json.dumps(tokens),
        }
        if service == "shop":
            env["JWT_PRIVATE_KEY"] = private  # only the identity service can sign
        done = python("-m", "tests.split.probe", env=env, check=False, timeout=240)
        assert done.returncode == 0, f"{service} probe failed:\n{done.stderr[-4000:]}"
        return json.loads(done.stdout)

    with ThreadPoolExecutor(len(SERVICES)) as pool:
        return dict(zip(SERVICES, pool.map(run, SERVICES), strict=True))


OWN_DATABASES = {
    "shop": ["default"],
    "catalog": ["catalog"],
    "orders": ["orders", "orders_read"],
    "delivery": ["delivery"],
}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_configures_and_can_open_only_its_own_databases(probes, service):
    probe = probes[service]
    assert probe["services"] == [service]
    assert probe["databases"] == sorted(OWN_DATABASES[service])
    for alias, outcome in probe["opens"].items():
        if alias in OWN_DATABASES[service]:
            assert outcome == "ok", (alias, outcome)
        else:
            # 'default' exists only as Django's dummy backend; the rest do not exist at all.
            assert outcome in ("error: ImproperlyConfigured", "error: ConnectionDoesNotExist"), alias


@pytest.mark.parametrize("service", ["catalog", "orders", "delivery"])
def test_only_the_identity_service_has_sessions_messages_the_admin_and_the_token_blacklist(probes, service):
    probe = probes[service]
    assert probe["default_engine"] == "django.db.backends.dummy"
    for app in (
        "django.contrib.admin",
        "django.contrib.sessions",
        "django.contrib.messages",
        "rest_framework_simplejwt.token_blacklist",  # used refresh tokens, logouts: identity's state
    ):
        assert app not in probe["installed_apps"]
        assert app in probes["shop"]["installed_apps"]
    assert not any("sessions" in m or "AuthenticationMiddleware" in m for m in probe["middleware"])
    assert probe["requests"]["admin"]["status"] == 404
    assert probe["requests"]["auth_register"]["status"] == 404
    assert probes["shop"]["requests"]["admin"]["status"] == 200
    assert probe["admin_models"] == []


def test_the_shop_admin_shows_only_models_of_its_own_database(probes):
    models = probes["shop"]["admin_models"]
    assert {"auth.user", "auth.group", "events.outboxevent"} <= set(models)
    assert not [m for m in models if m.split(".")[0] in ("catalog", "orders", "delivery")], models


def test_a_catalog_process_serves_catalog_only_and_verifies_tokens_with_the_public_key(probes):
    catalog = probes["catalog"]["requests"]
    assert catalog["catalog_list"]["status"] == 200
    # Staff is a claim in the token: no user table is needed to authorize.
    assert catalog["catalog_create_as_staff"]["status"] == 201, catalog["catalog_create_as_staff"]
    assert catalog["catalog_create_as_customer"]["status"] == 403
    assert catalog["orders_list"]["status"] == 404
    assert catalog["delivery_list"]["status"] == 404
    assert probes["catalog"]["jwt_can_sign"] is False


def test_each_service_serves_its_own_prefix_and_404s_the_others(probes):
    own = {
        "shop": "auth_register",
        "catalog": "catalog_list",
        "orders": "orders_list",
        "delivery": "delivery_list",
    }
    for service, probe in probes.items():
        for other, request in own.items():
            status = probe["requests"][request]["status"]
            if other == service:
                assert status in (200, 201), (service, request, probe["requests"][request])
            else:
                assert status == 404, (service, request, status)
    assert probes["orders"]["requests"]["orders_list_anonymous"]["status"] == 401
    assert probes["shop"]["jwt_can_sign"] is True


@pytest.mark.parametrize("service", SERVICES)
def test_readyz_checks_only_the_services_own_databases(probes, service):
    ready = probes[service]["requests"]["readyz"]
    assert ready["status"] == 200, ready
    assert sorted(ready["json"]["checks"]) == [f"database:{a}" for a in sorted(OWN_DATABASES[service])]
    assert probes[service]["requests"]["healthz"]["json"] == {"status": "ok", "services": [service]}


def test_every_service_documents_the_whole_gateway_api(probes):
    paths = {service: probe["requests"]["schema"]["json"]["paths"] for service, probe in probes.items()}
    assert paths["catalog"] == paths["shop"] == paths["orders"] == paths["delivery"]
    for prefix in ("/api/auth/", "/api/catalog/", "/api/orders/", "/api/delivery/"):
        assert any(p.startswith(prefix) for p in paths["shop"]), prefix


def test_consumers_subscribe_and_handlers_write_only_within_their_service(probes):
    assert probes["shop"]["consumer_topics"] == []  # identity consumes nothing
    assert probes["catalog"]["consumer_topics"] == ["shop.identity.user", "shop.orders.order"]
    # Every service without the user table keeps its replica of users' rights (shop/rights).
    for service in ("catalog", "orders", "delivery"):
        assert "shop.identity.user" in probes[service]["consumer_topics"]
    assert "shop.catalog.reservation" in probes["orders"]["consumer_topics"]
    assert "shop.orders.order" in probes["delivery"]["consumer_topics"]
    for service in ("catalog", "orders", "delivery"):
        assert set(probes[service]["handler_databases"]) <= set(OWN_DATABASES[service])


def test_celery_tasks_and_schedules_are_per_service(probes):
    queues = {service: probe["celery_queue"] for service, probe in probes.items()}
    assert queues == {s: f"shop.{s}" for s in SERVICES}
    assert probes["orders"]["beat"] == ["expire-pending-orders", "prune-published-outbox"]
    assert probes["shop"]["beat"] == ["flush-expired-tokens", "prune-published-outbox"]
    assert probes["delivery"]["beat"] == ["prune-published-outbox", "resume-stalled-shipments"]
    for service in ("catalog",):
        assert probes[service]["beat"] == ["prune-published-outbox"]


def test_a_consumer_refuses_to_consume_for_a_service_its_process_is_not(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL_", "EVENTS_", "SHOP_"))},
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "SHOP_ENV": "test",
        "SHOP_SERVICES": "catalog",
        "SHOP_DATA_DIR": str(tmp_path),
        "EVENTS_TRANSPORT": "kafka",
    }
    done = manage("consume_events", "--service", "orders", env=env, check=False, timeout=120)
    assert done.returncode != 0
    assert "this process does not serve 'orders'" in done.stderr
