"""Tokens follow the user's current state: a refresh re-reads the user, a refresh token is good
for one refresh (rotation, the used one blacklisted), logout revokes one."""

from __future__ import annotations

import jwt
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from shop.tests.race import at_once

pytestmark = pytest.mark.django_db(databases=["default", "catalog"])
PASSWORD = "correct-horse-battery"


def login(api, user) -> dict:
    response = api.post("/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def refresh(api, token: str):
    return api.post("/api/auth/token/refresh/", {"refresh": token}, format="json")


def claims(token: str) -> dict:
    return jwt.decode(token, settings.JWT_PUBLIC_KEY, algorithms=["RS256"], audience="shop")


def as_bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def assert_refused(api: APIClient, anon_api: APIClient, access: str, code: str) -> None:
    """`api`'s token (and `access`, checked at verify) are refused with `code`: a read, an order
    (nothing written), a token check."""
    from orders.models import Order

    order = {"lines": [{"product_id": 1, "quantity": 1}], "shipping_address": "1 Main St"}
    for response in (
        api.get("/api/orders/"),
        api.post("/api/orders/", order, format="json"),
        anon_api.post("/api/auth/token/verify/", {"token": access}, format="json"),
    ):
        assert response.status_code == 401, response.content
        assert response.json()["code"] == code
    assert not Order.objects.exists()


def test_a_refresh_token_is_good_for_one_refresh(anon_api, customer):
    first = login(anon_api, customer)

    rotated = refresh(anon_api, first["refresh"])
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert rotated.json()["refresh"] != first["refresh"]

    replayed = refresh(anon_api, first["refresh"])
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "token_not_valid"
    # The new one works, once.
    assert refresh(anon_api, rotated.json()["refresh"]).status_code == 200


def test_a_demoted_staff_member_gets_customer_tokens_on_refresh(anon_api, staff):
    tokens = login(anon_api, staff)
    assert claims(tokens["access"])["is_staff"] is True

    staff.is_staff = False
    staff.save()
    rotated = refresh(anon_api, tokens["refresh"]).json()

    assert claims(rotated["access"])["is_staff"] is False
    create = as_bearer(rotated["access"]).post("/api/catalog/products/", {}, format="json")
    assert create.status_code == 403
    # ...and the other way round: a promotion shows at the next refresh.
    staff.is_staff = True
    staff.save()
    assert claims(refresh(anon_api, rotated["refresh"]).json()["access"])["is_staff"] is True


def test_a_renamed_user_gets_the_new_name_in_the_next_token(anon_api, customer):
    tokens = login(anon_api, customer)
    customer.username = "renamed"
    customer.save()
    assert claims(refresh(anon_api, tokens["refresh"]).json()["access"])["username"] == "renamed"


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_a_user_who_may_no_longer_log_in_cannot_refresh(anon_api, customer, change):
    tokens = login(anon_api, customer)
    if change == "deactivated":
        customer.is_active = False
        customer.save()
    else:
        customer.delete()

    response = refresh(anon_api, tokens["refresh"])

    assert response.status_code == 401
    assert response.json()["code"] == "no_active_account"


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_a_deactivated_or_deleted_users_access_token_stops_working_at_once(anon_api, customer, change):
    access = login(anon_api, customer)["access"]
    api = as_bearer(access)
    assert api.get("/api/delivery/shipments/").status_code == 200
    if change == "deactivated":
        customer.is_active = False
        customer.save()
    else:
        customer.delete()

    assert_refused(api, anon_api, access, "no_active_account")
    assert api.get("/api/delivery/shipments/").json()["code"] == "no_active_account"
    assert api.get("/api/catalog/products/").json()["code"] == "no_active_account"


@pytest.mark.django_db(databases="__all__")
def test_a_demoted_staff_members_access_token_loses_staff_rights_at_once(anon_api, staff):
    from catalog.models import Product

    api = as_bearer(login(anon_api, staff)["access"])
    assert api.get("/api/orders/projections/").status_code == 200
    staff.is_staff = False
    staff.save()

    product = {"sku": "DEMOTED-1", "name": "Nope", "price": "1.00", "currency": "EUR", "stock": 1}
    assert api.post("/api/catalog/products/", product, format="json").status_code == 403
    assert api.get("/api/orders/projections/").status_code == 403
    assert api.get("/metrics").status_code == 403
    assert not Product.objects.filter(sku="DEMOTED-1").exists()
    # Still a customer: their own lists answer.
    assert api.get("/api/orders/").status_code == 200


def test_verify_refuses_a_used_refresh_token_as_refresh_does(anon_api, customer):
    tokens = login(anon_api, customer)
    assert refresh(anon_api, tokens["refresh"]).status_code == 200

    response = anon_api.post("/api/auth/token/verify/", {"token": tokens["refresh"]}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_a_password_change_ends_every_refresh_token(anon_api, customer):
    phone, laptop = login(anon_api, customer), login(anon_api, customer)
    customer.set_password("a-brand-new-passphrase")
    customer.save()

    for tokens in (phone, laptop):
        response = refresh(anon_api, tokens["refresh"])
        assert response.status_code == 401
        assert response.json()["code"] == "password_changed"


@pytest.mark.django_db(databases="__all__")
def test_a_password_change_ends_every_access_token_at_once(anon_api, customer):

    phone, laptop = as_bearer(login(anon_api, customer)["access"]), login(anon_api, customer)["access"]
    assert phone.get("/api/orders/").status_code == 200
    customer.set_password("a-brand-new-passphrase")
    customer.save()

    assert_refused(phone, anon_api, laptop, "password_changed")
    # The new password's tokens work.
    fresh = anon_api.post(
        "/api/auth/token/",
        {"username": customer.username, "password": "a-brand-new-passphrase"},
        format="json",
    ).json()
    assert as_bearer(fresh["access"]).get("/api/orders/").status_code == 200


def test_logout_revokes_the_refresh_token(anon_api, customer):
    tokens = login(anon_api, customer)

    response = anon_api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    assert refresh(anon_api, tokens["refresh"]).status_code == 401
    again = anon_api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401
    # Another session of the same user is untouched.
    other = login(anon_api, customer)
    assert refresh(anon_api, other["refresh"]).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "an.access.token", "forged"],
    ids=["empty", "garbage", "access", "forged"],
)
def test_logout_and_refresh_refuse_what_is_not_a_live_refresh_token(anon_api, customer, token):
    from shop.identity.keys import generate_pem_pair

    if token == "an.access.token":
        token = login(anon_api, customer)["access"]
    elif token == "forged":
        token = jwt.encode(
            {"token_type": "refresh", "user_id": customer.pk, "jti": "x", "exp": 4102444800, "aud": "shop"},
            generate_pem_pair()[0],
            algorithm="RS256",
        )
    for path in ("/api/auth/logout/", "/api/auth/token/refresh/"):
        response = anon_api.post(path, {"refresh": token}, format="json")
        assert response.status_code in (400, 401), (path, response.content)
        assert response.json()["code"] in ("invalid", "token_not_valid")


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_racing_refreshes_with_one_token_get_one_new_pair(customer):
    tokens = login(APIClient(), customer)

    responses = at_once([lambda: refresh(APIClient(), tokens["refresh"])] * 6)

    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200] + [401] * 5


def test_only_the_identity_service_keeps_token_state():
    """The blacklist is the identity database's (`default`); in the split no other service
    installs it (tests/split/test_service_selection.py checks a process per service)."""
    from shop.routers import alias_for

    assert alias_for("token_blacklist") == "default"
    assert get_user_model()._meta.app_label == "auth"


def test_expired_refresh_tokens_are_flushed_and_live_ones_kept(anon_api, customer):
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from shop.identity.tasks import flush_expired_tokens

    old, live = login(anon_api, customer), login(anon_api, customer)
    anon_api.post("/api/auth/logout/", {"refresh": old["refresh"]}, format="json")
    expired = OutstandingToken.objects.get(
        jti=jwt.decode(old["refresh"], options={"verify_signature": False})["jti"]
    )
    expired.expires_at = timezone.now() - timedelta(seconds=1)
    expired.save()

    assert flush_expired_tokens() >= 1
    assert not OutstandingToken.objects.filter(pk=expired.pk).exists()
    assert refresh(anon_api, live["refresh"]).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/auth/token/", {"username": 12, "password": "x"}, "username"),
        ("/api/auth/token/", {"username": "alice", "password": 12345678}, "password"),
        ("/api/auth/token/", {"username": True, "password": False}, "username"),
        ("/api/auth/token/refresh/", {"refresh": 1}, "refresh"),
        ("/api/auth/token/verify/", {"token": 1}, "token"),
        ("/api/auth/logout/", {"refresh": 1}, "refresh"),
    ],
)
def test_a_credential_that_is_not_a_json_string_is_a_400_naming_the_field(anon_api, path, body, field):
    # simplejwt's fields turn 12 into "12": the request was then judged as a wrong credential
    # (a 401), where every other text field of the API says the type is wrong.
    response = anon_api.post(path, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
