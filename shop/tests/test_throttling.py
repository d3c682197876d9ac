"""Rate limits on token, refresh, register, logout and verify, per client IP and per account, in every
shape (no gateway needed): a JSON 429 with Retry-After; parallel requests cannot slip past."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from shop.tests.race import at_once

pytestmark = pytest.mark.django_db(databases=["default"])
PASSWORD = "correct-horse-battery"


@pytest.fixture
def rates(settings):
    """Small limits, everything else off: def rates(**scopes)."""

    def set_rates(**scopes: str) -> None:
        settings.SHOP_THROTTLE_RATES = {
            scope: scopes.get(scope.replace(".", "_")) for scope in settings.SHOP_THROTTLE_RATES
        }

    return set_rates


def token(client, username: str, password: str = "wrong", **extra):
    return client.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", **extra
    )


def assert_throttled(response, window: int = 60) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled"
    assert body["request_id"] == response["X-Request-ID"]
    assert 1 <= int(response["Retry-After"]) <= window  # seconds until the window turns


def test_guessing_from_one_address_is_slowed_whatever_the_username(rates, anon_api):
    rates(auth_token_ip="3/min")
    for n in range(3):
        assert token(anon_api, f"user{n}").status_code == 401
    assert_throttled(token(anon_api, "user99"))
    # Another address is not affected.
    assert token(anon_api, "user99", REMOTE_ADDR="10.0.0.7").status_code == 401


def test_guessing_one_account_from_many_addresses_is_slowed(rates, anon_api, customer):
    rates(auth_token_username="3/min")
    for n, typed in enumerate([customer.username, customer.username.upper(), customer.username.title()]):
        assert token(anon_api, typed, REMOTE_ADDR=f"10.0.0.{n}").status_code == 401
    # Even the right password now waits: the account, not the guess, is limited.
    assert_throttled(token(anon_api, customer.username, PASSWORD, REMOTE_ADDR="10.0.0.200"))
    assert token(anon_api, "someone-else", REMOTE_ADDR="10.0.0.201").status_code == 401


def test_a_client_cannot_pick_its_address_with_x_forwarded_for(rates, anon_api):
    rates(auth_token_ip="2/min")
    for n in range(2):
        assert token(anon_api, "x", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 401
    assert_throttled(token(anon_api, "x", HTTP_X_FORWARDED_FOR="203.0.113.77"))


def test_behind_the_gateway_each_client_address_has_its_own_limit(rates, settings, anon_api):
    rates(auth_token_ip="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    from rest_framework.settings import api_settings

    api_settings.reload()
    try:
        # What nginx sends: the client's own (possibly forged) header, then the address it saw.
        for _ in range(2):
            assert token(anon_api, "x", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.1").status_code == 401
        assert_throttled(token(anon_api, "x", HTTP_X_FORWARDED_FOR="5.6.7.8, 198.51.100.1"))
        assert token(anon_api, "x", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 401
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
        api_settings.reload()


def test_sign_ups_are_limited_per_address_and_per_username(rates, anon_api):
    rates(auth_register_ip="2/hour", auth_register_username="1/hour")

    def sign_up(username: str, **extra):
        body = {"username": username, "email": f"{username}@example.com", "password": "a-long-passphrase-9"}
        return anon_api.post("/api/auth/register/", body, format="json", **extra)

    assert sign_up("dora").status_code == 201
    assert_throttled(sign_up("DORA", REMOTE_ADDR="10.1.1.1"), 3600)  # one username, another address
    assert sign_up("eve").status_code == 201
    assert_throttled(sign_up("frank"), 3600)  # the address's third sign-up this hour


def test_refreshes_are_limited_per_account_and_forged_tokens_count_against_no_one(rates, anon_api, customer):
    rates(auth_refresh_user="2/min")
    pair = token(anon_api, customer.username, PASSWORD).json()
    for n in range(2):
        response = anon_api.post(
            "/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json", REMOTE_ADDR=f"10.2.0.{n}"
        )
        assert response.status_code == 200
        pair = response.json()
    # Forged or garbage tokens (no valid signature) do not use up the account's refreshes...
    for junk in ("junk", pair["access"][:-4] + "AAAA"):
        anon_api.post("/api/auth/token/refresh/", {"refresh": junk}, format="json")
    # ...but the account's own third refresh this minute waits.
    assert_throttled(anon_api.post("/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json"))


def test_token_checks_are_limited_per_address(rates, anon_api, customer):
    rates(auth_verify_ip="2/min")
    access = token(anon_api, customer.username, PASSWORD).json()["access"]
    for _ in range(2):
        assert anon_api.post("/api/auth/token/verify/", {"token": access}, format="json").status_code == 200
    assert_throttled(anon_api.post("/api/auth/token/verify/", {"token": access}, format="json"))
    other = anon_api.post("/api/auth/token/verify/", {"token": access}, format="json", REMOTE_ADDR="10.3.0.1")
    assert other.status_code == 200


def test_parallel_guesses_cannot_slip_past_the_limit(rates, customer):
    rates(auth_token_username="3/min")
    responses = at_once([lambda: token(APIClient(), customer.username)] * 10)

    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [401] * 3 + [429] * 7


def test_a_cache_outage_lets_logins_through_and_says_so(rates, settings, anon_api, customer, caplog):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rates(auth_token_ip="1/min")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    for _ in range(2):
        assert token(anon_api, customer.username, PASSWORD).status_code == 200
    assert "cache unavailable" in caplog.text


@pytest.mark.parametrize("username", ["\ud800", "x" * 10_000, "\x00", 12, None, ["a"], {"a": 1}])
def test_whatever_names_the_account_the_limits_count_without_failing(rates, anon_api, username):
    """Throttles read the body before any field is validated: no value may break them."""
    rates(auth_token_ip="5/min", auth_token_username="5/min", auth_register_username="5/hour")
    for path in ("/api/auth/token/", "/api/auth/register/"):
        body = json.dumps({"username": username, "password": "x"})  # \ud800 escaped, as a client sends it
        response = anon_api.generic("POST", path, body, content_type="application/json")
        assert response.status_code in (400, 401), response.content


def test_the_admin_login_form_is_no_way_around_the_login_limits(rates, anon_api, staff):
    from django.test import Client

    rates(auth_token_username="3/min")
    browser = Client()

    def admin_login(password: str, address: str):
        return browser.post(
            "/admin/login/?next=/admin/",
            {"username": staff.username.upper(), "password": password},
            REMOTE_ADDR=address,
        )

    # Guesses on the form and on the API count against one budget for the account.
    assert token(anon_api, staff.username, REMOTE_ADDR="10.1.0.1").status_code == 401
    for n in range(2):
        assert admin_login("wrong", f"10.1.0.{10 + n}").status_code == 200  # the form again
    refused = admin_login(PASSWORD, "10.1.0.99")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "_auth_user_id" not in browser.session  # not even the right password got in
    assert_throttled(token(anon_api, staff.username, PASSWORD, REMOTE_ADDR="10.1.0.100"))
