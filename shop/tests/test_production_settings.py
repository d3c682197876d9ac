"""Production settings refuse to start with what is unsafe, and `check --deploy` has nothing to
say about a correct production configuration. Each case is a fresh process reading its own
environment, as a deployment's would."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from shop.identity.keys import generate_pem_pair

ROOT = Path(__file__).resolve().parents[2]


@cache
def _pairs() -> tuple[tuple[str, str], tuple[str, str]]:
    return generate_pem_pair(), generate_pem_pair()


def prod_env(tmp_path, **overrides: str) -> dict[str, str]:
    (private, public), _ = _pairs()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL_", "DJANGO_", "JWT_", "SHOP_", "EVENTS_", "CELERY_", "CACHE_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "shop.settings",
            "SHOP_ENV": "prod",
            "SHOP_DATA_DIR": str(tmp_path),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "shop.example.com",
            "JWT_PRIVATE_KEY": private,
            "JWT_PUBLIC_KEY": public,
        }
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import shop.settings"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_correct_production_configuration_starts(tmp_path):
    done = load_settings(prod_env(tmp_path))
    assert done.returncode == 0, done.stderr


def _other_public_key() -> str:
    return _pairs()[1][1]


def _weak_rsa_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"DJANGO_DEBUG": "true"}, "DEBUG must be off"),
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY must come from the environment"),
        ({"DJANGO_SECRET_KEY": "short-secret"}, "DJANGO_SECRET_KEY is weak"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "DJANGO_SECRET_KEY is weak"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + secrets.token_urlsafe(50)}, "development keys"),
        ({"DJANGO_SECRET_KEY": "CHANGE-ME-" + secrets.token_urlsafe(50)}, "placeholder"),
        ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS must list"),
        ({"DJANGO_ALLOWED_HOSTS": "*"}, "DJANGO_ALLOWED_HOSTS must list"),
        ({"JWT_PUBLIC_KEY": None}, "JWT_PUBLIC_KEY"),
        (
            {"JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nCHANGE-ME\n-----END PUBLIC KEY-----\n"},
            "not a PEM",
        ),
        ({"JWT_PUBLIC_KEY": _weak_rsa_public_key()}, "at least 2048 bits"),
        ({"JWT_PUBLIC_KEY": _other_public_key()}, "not one key pair"),
        ({"JWT_PRIVATE_KEY": None}, "serves identity (shop), which signs tokens"),
        ({"JWT_PRIVATE_KEY": None, "SHOP_SERVICES": "shop"}, "set JWT_PRIVATE_KEY"),
        ({"SHOP_SERVICES": "catalog"}, "only `shop` signs tokens"),
    ],
    ids=lambda v: (
        v if isinstance(v, str) else ",".join(f"{k}={'unset' if x is None else '…'}" for k, x in v.items())
    ),
)
def test_production_refuses_an_unsafe_configuration(tmp_path, overrides, says):
    done = load_settings(prod_env(tmp_path, **overrides))
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert says in done.stderr, done.stderr[-2000:]


def test_a_verifying_service_needs_only_the_public_key(tmp_path):
    done = load_settings(prod_env(tmp_path, SHOP_SERVICES="catalog", JWT_PRIVATE_KEY=None))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("tls_at_gateway", ["false", "true"])
def test_check_deploy_has_nothing_to_say_about_production(tmp_path, tls_at_gateway):
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=prod_env(tmp_path, SHOP_TLS_AT_GATEWAY=tls_at_gateway),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr
