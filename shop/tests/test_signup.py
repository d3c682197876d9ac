"""Sign-up: one account per username and per email address, both ignoring case — held by the
database, so concurrent sign-ups cannot create two, and the loser of a race gets the same 400 as
a sign-up that came second. The race tests use real threads and real transactions (the
Postgres suite runs them on Postgres)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from shop.identity import services
from shop.tests.race import at_once

pytestmark = pytest.mark.django_db(databases=["default"])
PASSWORD = "a-long-passphrase-9"


def register(api, username="bob", email="bob@example.com"):
    return api.post(
        "/api/auth/register/", {"username": username, "email": email, "password": PASSWORD}, format="json"
    )


def without_request_id(response) -> dict:
    return {k: v for k, v in response.json().items() if k != "request_id"}


@pytest.mark.parametrize(
    ("username", "email", "taken"),
    [
        ("BOB", "other@example.com", {"username"}),
        ("bobby", "Bob@Example.COM", {"email"}),
        ("Bob", "BOB@EXAMPLE.COM", {"username", "email"}),
    ],
)
def test_a_username_or_email_differing_only_in_case_is_taken(anon_api, username, email, taken):
    assert register(anon_api).status_code == 201

    response = register(anon_api, username, email)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == taken
    assert get_user_model().objects.count() == 1


def test_non_ascii_usernames_are_compared_ignoring_case_too(anon_api):
    assert register(anon_api, "Émile", "emile@example.fr").status_code == 201
    response = register(anon_api, "éMILE", "other@example.fr")
    assert response.json()["errors"] == {"username": [services.USERNAME_TAKEN]}


def test_emails_are_stored_in_lower_case_and_usernames_as_typed(anon_api):
    register(anon_api, "BobSmith", "Bob.Smith@Example.COM")
    user = get_user_model().objects.get()
    assert (user.username, user.email) == ("BobSmith", "bob.smith@example.com")


def test_logging_in_ignores_the_case_of_the_username(anon_api):
    register(anon_api, "BobSmith", "bob@example.com")
    for typed in ("BobSmith", "bobsmith", "BOBSMITH"):
        response = anon_api.post("/api/auth/token/", {"username": typed, "password": PASSWORD}, format="json")
        assert response.status_code == 200, (typed, response.content)
    wrong = anon_api.post("/api/auth/token/", {"username": "bobsmith", "password": "nope"}, format="json")
    assert wrong.status_code == 401


def test_the_database_refuses_a_duplicate_that_skipped_every_check():
    """The guarantee is the index, not the query before the insert."""
    from django.db import IntegrityError, transaction

    User = get_user_model()
    User.objects.create_user(username="carol", email="carol@example.com")
    for username, email in [("CAROL", "x@example.com"), ("x", "CAROL@example.com")]:
        with pytest.raises(IntegrityError), transaction.atomic(using="default"):
            User.objects.create_user(username=username, email=email)
    # Accounts without an email (createsuperuser allows none) do not collide with each other.
    User.objects.create_user(username="n1", email="")
    User.objects.create_user(username="n2", email="")


def test_the_loser_of_a_race_gets_the_400_a_sequential_duplicate_gets(anon_api, monkeypatch):
    assert register(anon_api).status_code == 201
    sequential = register(anon_api, "BOB", "BOB@example.com")

    # The race, made deterministic: every check before the insert ran before the winner committed.
    from shop.identity.api.serializers import RegisterSerializer

    monkeypatch.setattr(RegisterSerializer, "validate_username", lambda self, value: value)
    monkeypatch.setattr(RegisterSerializer, "validate_email", lambda self, value: value.lower())
    real_taken, calls = services._taken, []

    def taken_before_the_winner_committed(username, email):
        calls.append(username)
        return {} if len(calls) == 1 else real_taken(username, email)

    monkeypatch.setattr(services, "_taken", taken_before_the_winner_committed)
    raced = register(anon_api, "BOB", "BOB@example.com")

    assert raced.status_code == sequential.status_code == 400
    assert without_request_id(raced) == without_request_id(sequential)
    assert get_user_model().objects.count() == 1


@pytest.fixture
def no_throttling(settings):
    """Races come from one client address and reuse one username: the limits are not under test."""
    settings.SHOP_THROTTLE_RATES = dict.fromkeys(settings.SHOP_THROTTLE_RATES)


def _race(bodies: list[dict]) -> list:
    """Every body POSTed at the same moment, each from its own client and connection."""
    return at_once(
        [lambda body=body: APIClient().post("/api/auth/register/", body, format="json") for body in bodies]
    )


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_concurrent_sign_ups_of_one_username_create_one_account(no_throttling):
    bodies = [
        {"username": name, "email": f"racer{i}@example.com", "password": PASSWORD}
        for i, name in enumerate(["racer", "RACER", "Racer", "rAcEr", "racer", "RaCeR"])
    ]
    responses = _race(bodies)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * (len(bodies) - 1), [r.content for r in responses]
    assert get_user_model().objects.filter(username__iexact="racer").count() == 1
    for r in responses:
        if r.status_code == 400:
            assert r.json()["errors"] == {"username": [services.USERNAME_TAKEN]}


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_concurrent_sign_ups_of_one_email_create_one_account(no_throttling):
    emails = ["Same@Example.com", "same@example.com", "SAME@EXAMPLE.COM", "same@Example.com"] * 2
    bodies = [{"username": f"person{i}", "email": e, "password": PASSWORD} for i, e in enumerate(emails)]
    responses = _race(bodies)

    assert sorted(r.status_code for r in responses) == [201] + [400] * (len(bodies) - 1)
    assert get_user_model().objects.count() == 1
    # Each loser hears what a sequential duplicate hears.
    sequential = register(APIClient(), "latecomer", "SAME@example.com")
    assert sequential.status_code == 400, sequential.content
    for r in responses:
        if r.status_code == 400:
            assert without_request_id(r) == without_request_id(sequential)


def test_the_admin_applies_the_same_rules_and_says_so(admin_client):
    """Creating or renaming a user in the admin to another account's name or email, in any case,
    is a message on the form — not a 500 from the database's index."""
    User = get_user_model()
    User.objects.create_user(username="zoe", email="zoe@example.com")
    other = User.objects.create_user(username="yann", email="yann@example.com")

    added = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "ZOE", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"},
    )
    assert added.status_code == 200
    assert services.USERNAME_TAKEN in added.content.decode()

    changed = admin_client.post(
        f"/admin/auth/user/{other.pk}/change/",
        {
            "username": "yann",
            "email": "Zoe@Example.com",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert changed.status_code == 200
    assert services.EMAIL_TAKEN in changed.content.decode()
    assert User.objects.get(pk=other.pk).email == "yann@example.com"
