"""A user's rights reach the services without the user table at once: identity publishes every
change (shop/identity/rights.py), each service keeps a replica (shop/rights), and
CurrentRightsAuthentication holds tokens to it where SERVES_IDENTITY is off."""

from __future__ import annotations

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from events.inbox.apply import Outcome, apply
from events.models import InboxEntry, OutboxEvent
from events.registry import handlers_for
from events.testing import event
from shop.event_types import USER_RIGHTS_CHANGED
from shop.identity.services import password_fingerprint
from shop.rights import replica
from shop.rights.models import ReplicatedRights
from shop.topology import RIGHTS_REPLICAS

pytestmark = pytest.mark.django_db(databases="__all__")
PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "a-brand-new-passphrase"


def published() -> list[dict]:
    """The data of every user_rights_changed event in identity's outbox, oldest first."""
    rows = OutboxEvent.objects.using("default").filter(type=USER_RIGHTS_CHANGED).order_by("id")
    return [row.envelope["data"] for row in rows]


def login(api: APIClient, user, password: str = PASSWORD) -> dict:
    response = api.post("/api/auth/token/", {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def as_bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def replicas(user_id: int) -> dict[str, ReplicatedRights | None]:
    return {
        alias: ReplicatedRights.objects.using(alias).filter(pk=user_id).first() for alias in RIGHTS_REPLICAS
    }


# --- identity publishes ------------------------------------------------------------------------


def _deactivate(user):
    user.is_active = False
    user.save()


def _demote(user):
    user.is_staff = False
    user.save(update_fields=["is_staff"])


def _change_password(user):
    user.set_password(NEW_PASSWORD)
    user.save()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_deactivate, {"is_active": False, "is_staff": True}),
        (_demote, {"is_active": True, "is_staff": False}),
        (_change_password, {"is_active": True, "is_staff": True}),
    ],
)
def test_each_change_of_rights_publishes_the_rights_after_it(staff, change, expected):
    change(staff)

    [data] = published()
    assert data == {
        "user_id": staff.pk,
        "version": 1,
        **expected,
        "password_fingerprint": password_fingerprint(staff),
    }
    assert len(data["password_fingerprint"]) == 32  # an HMAC of the hash, never the hash
    assert staff.password not in data["password_fingerprint"]


def test_a_deletion_publishes_an_inactive_user_with_the_next_version(customer):
    _change_password(customer)
    user_id, fingerprint = customer.pk, password_fingerprint(customer)
    customer.delete()

    assert [(d["user_id"], d["version"], d["is_active"], d["password_fingerprint"]) for d in published()] == [
        (user_id, 1, True, fingerprint),
        (user_id, 2, False, ""),
    ]


def test_a_login_a_creation_and_a_save_of_other_fields_publish_nothing(anon_api, customer, staff):
    login(anon_api, customer)  # last_login is saved
    customer.email = "renamed@example.com"
    customer.first_name = "Renamed"
    customer.save()
    staff.is_staff = True  # unchanged
    staff.save()
    assert published() == []


def _deactivate_then_fail(user) -> None:
    with transaction.atomic(using="default"):
        _deactivate(user)
        raise RuntimeError("the request failed after the save")


def test_a_change_rolled_back_publishes_nothing_and_uses_no_version(customer):
    with pytest.raises(RuntimeError):
        _deactivate_then_fail(customer)

    assert published() == []
    _deactivate(customer)
    assert [d["version"] for d in published()] == [1]


def test_the_admin_deletion_publishes(admin_client, customer):
    response = admin_client.post(f"/admin/auth/user/{customer.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content
    assert [(d["user_id"], d["is_active"]) for d in published()] == [(customer.pk, False)]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_manage_py_changepassword_publishes_outside_any_transaction(customer, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", customer.username, stdout=open("/dev/null", "w"))  # noqa: SIM115

    customer.refresh_from_db()
    [data] = published()
    assert data["password_fingerprint"] == password_fingerprint(customer)


# --- the replicas apply it ---------------------------------------------------------------------


def test_every_replica_applies_the_change_to_its_own_database(customer, drain):
    _deactivate(customer)
    drain()

    rows = replicas(customer.pk)
    assert set(rows) == {"catalog", "orders", "delivery"}
    assert all(row is not None and row.version == 1 and not row.is_active for row in rows.values())
    handlers = {h.name: h.alias for h in handlers_for(USER_RIGHTS_CHANGED, ["catalog", "orders", "delivery"])}
    assert handlers == {f"rights.on_user_rights_changed_in_{alias}": alias for alias in RIGHTS_REPLICAS}


def _change(user_id: int, version: int, *, is_active: bool = True, is_staff: bool = False, pwd: str = "f"):
    data = {
        "user_id": user_id,
        "version": version,
        "is_active": is_active,
        "is_staff": is_staff,
        "password_fingerprint": pwd,
    }
    return event(USER_RIGHTS_CHANGED, user_id, **data)


def test_a_redelivered_event_changes_nothing(customer):
    [handler] = [h for h in handlers_for(USER_RIGHTS_CHANGED, ["orders"])]
    deactivated = _change(customer.pk, 1, is_active=False)

    assert apply(deactivated, handler) == Outcome.APPLIED
    assert apply(deactivated, handler) == Outcome.DUPLICATE
    # The same change under another event id (published twice): the version says it is known.
    assert not replica.apply_change(_change(customer.pk, 1, is_active=True).data, using="orders")
    assert replica.rights_of(customer.pk, using="orders") == replica.Replicated(1, False, False, "f")
    assert InboxEntry.objects.using("orders").filter(event_id=deactivated.id).count() == 1


def test_an_older_event_arriving_after_a_newer_one_changes_nothing(customer):
    assert replica.apply_change(_change(customer.pk, 3, is_active=False, pwd="third").data, using="delivery")
    assert not replica.apply_change(
        _change(customer.pk, 2, is_active=True, pwd="second").data, using="delivery"
    )
    assert replica.rights_of(customer.pk, using="delivery") == replica.Replicated(3, False, False, "third")
    assert replica.apply_change(_change(customer.pk, 4, is_active=True, pwd="fourth").data, using="delivery")
    assert replica.rights_of(customer.pk, using="delivery") == replica.Replicated(4, True, False, "fourth")


# --- a service without the user table authenticates with its replica ------------------------------


@pytest.fixture(params=RIGHTS_REPLICAS)
def split_service(request):
    """Requests authenticated as in the split's catalog, orders or delivery service."""
    with override_settings(SERVES_IDENTITY=False, RIGHTS_REPLICA_DATABASE=request.param):
        yield request.param


def _refused(api: APIClient, code: str) -> None:
    for response in (
        api.get("/api/orders/"),
        api.get("/api/catalog/products/"),
        api.get("/api/delivery/shipments/"),
    ):
        assert response.status_code == 401, response.content
        assert response.json()["code"] == code


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
def test_a_deactivated_or_deleted_users_token_is_refused_once_the_event_arrives(
    anon_api, customer, drain, split_service, change
):
    api = as_bearer(login(anon_api, customer)["access"])
    assert api.get("/api/orders/").status_code == 200  # no replica row: the claims decide
    if change == "deactivated":
        _deactivate(customer)
    else:
        customer.delete()
    assert api.get("/api/orders/").status_code == 200  # not replicated yet: the lag

    drain()

    _refused(api, "no_active_account")


def test_a_password_change_refuses_older_tokens_and_not_the_new_passwords(
    anon_api, customer, drain, split_service
):
    old = as_bearer(login(anon_api, customer)["access"])
    _change_password(customer)
    drain()

    _refused(old, "password_changed")
    fresh = as_bearer(login(anon_api, customer, NEW_PASSWORD)["access"])
    assert fresh.get("/api/orders/").status_code == 200


def test_a_token_issued_after_a_change_the_replica_has_not_seen_yet_is_not_refused(
    anon_api, customer, drain, split_service
):
    _change_password(customer)
    drain()  # the replica holds version 1
    customer.set_password("yet-another-passphrase-3")
    customer.save()  # version 2, not replicated yet
    token = login(anon_api, customer, "yet-another-passphrase-3")["access"]

    assert jwt.decode(token, settings.JWT_PUBLIC_KEY, algorithms=["RS256"], audience="shop")["rv"] == 2
    assert as_bearer(token).get("/api/orders/").status_code == 200


def test_a_demoted_staff_member_loses_staff_rights_and_a_promotion_waits_for_the_next_token(
    anon_api, staff, customer, drain, split_service
):
    product = {"sku": "REPLICA-1", "name": "Nope", "price": "1.00", "currency": "EUR", "stock": 1}
    admin = as_bearer(login(anon_api, staff)["access"])
    promoted = as_bearer(login(anon_api, customer)["access"])
    assert admin.get("/api/orders/projections/").status_code == 200
    _demote(staff)
    customer.is_staff = True
    customer.save()
    drain()

    assert admin.post("/api/catalog/products/", product, format="json").status_code == 403
    assert admin.get("/api/orders/projections/").status_code == 403
    assert admin.get("/api/orders/").status_code == 200  # still a customer
    assert promoted.get("/api/orders/projections/").status_code == 403  # the token's claim is the ceiling
    assert as_bearer(login(anon_api, customer)["access"]).get("/api/orders/projections/").status_code == 200
