"""Accounts and tokens: register, obtain, refresh, verify; RS256 verified statelessly."""

import jwt
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db(databases=["default"])


def register(api, **overrides):
    body = {"username": "bob", "email": "bob@example.com", "password": "a-long-passphrase-9", **overrides}
    return api.post("/api/auth/register/", body, format="json")


def test_a_customer_registers_and_gets_rs256_tokens_carrying_the_claims_services_need(anon_api):
    response = register(anon_api)
    assert response.status_code == 201, response.data
    assert "password" not in response.data
    user = get_user_model().objects.get(username="bob")
    assert not user.is_staff

    tokens = anon_api.post(
        "/api/auth/token/", {"username": "bob", "password": "a-long-passphrase-9"}, format="json"
    )
    assert tokens.status_code == 200
    claims = jwt.decode(tokens.data["access"], settings.JWT_PUBLIC_KEY, algorithms=["RS256"], audience="shop")
    assert jwt.get_unverified_header(tokens.data["access"])["alg"] == "RS256"
    assert str(claims["user_id"]) == str(user.id)
    assert claims["is_staff"] is False
    assert claims["iss"] == "shop"

    assert (
        anon_api.post("/api/auth/token/verify/", {"token": tokens.data["access"]}, format="json").status_code
        == 200
    )
    refreshed = anon_api.post("/api/auth/token/refresh/", {"refresh": tokens.data["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert refreshed.data["access"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"username": ""}, "username"),
        ({"username": "a b/c"}, "username"),
    ],
)
def test_registration_rejects_bad_input_field_by_field_and_creates_nobody(anon_api, overrides, field):
    response = register(anon_api, **overrides)
    assert response.status_code == 400
    assert field in response.data["errors"]
    assert not get_user_model().objects.exists()


def test_registration_refuses_a_taken_username_or_email(anon_api):
    assert register(anon_api).status_code == 201
    assert "username" in register(anon_api, email="other@example.com").data["errors"]
    assert "email" in register(anon_api, username="bobby", email="BOB@example.com").data["errors"]
    assert get_user_model().objects.count() == 1


def test_wrong_password_gets_401(anon_api, customer):
    response = anon_api.post(
        "/api/auth/token/", {"username": customer.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 401


def test_a_token_signed_with_another_key_is_rejected(anon_api):
    from shop.identity.keys import generate_pem_pair

    forged = jwt.encode(
        {
            "user_id": 1,
            "is_staff": True,
            "token_type": "access",
            "aud": "shop",
            "iss": "shop",
            "exp": 4102444800,
            "jti": "x",
        },
        generate_pem_pair()[0],
        algorithm="RS256",
    )
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert anon_api.get("/api/orders/").status_code == 401
    assert anon_api.post("/api/auth/token/verify/", {"token": forged}, format="json").status_code == 401


def test_malformed_json_is_a_400_and_an_oversized_body_a_413(anon_api):
    bad = anon_api.generic("POST", "/api/auth/register/", "{not json", content_type="application/json")
    assert bad.status_code == 400
    huge = anon_api.generic(
        "POST", "/api/auth/register/", '{"username": "' + "x" * 70_000 + '"}', content_type="application/json"
    )
    assert huge.status_code == 413
    assert not get_user_model().objects.exists()


@pytest.mark.django_db(databases="__all__")
def test_health_endpoints(anon_api):
    assert anon_api.get("/healthz").json()["status"] == "ok"
    ready = anon_api.get("/readyz")
    assert ready.status_code == 200
    assert all(v == "ok" for v in ready.json()["checks"].values())
