"""Identity commands: sign up, issue tokens, rotate a refresh token, log out.

Only the identity service (`shop`, database `default`) runs these; every other service verifies
access tokens statelessly with the public key and never reads users or the token blacklist.

Tokens follow the user's current state: a refresh re-reads the user and issues claims from it
(a demoted staff member's next access token says is_staff=false; an inactive or deleted user,
or one whose password changed since the token was issued, gets no new token). An access token
lives JWT_ACCESS_MINUTES (15); every request also checks the user's current state
(shop/identity/authentication.py): where identity is served in the user table, elsewhere in the
service's replica of users' rights, which identity's events keep (shop/identity/rights.py).
"""

from __future__ import annotations

import functools
import hmac
import unicodedata
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, connections, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from shop import inputs, integrity, statements
from shop.identity.models import RightsVersion

USERNAME_TAKEN = "A user with that username already exists."
EMAIL_TAKEN = "An account with this email already exists."
# Names of the case-insensitive unique indexes (migrations/0001_case_insensitive_identity.py).
USERNAME_INDEX = "identity_username_ci_uniq"
EMAIL_INDEX = "identity_email_ci_uniq"
# Every token's fingerprint of the password (an HMAC, like Django's session hash): a password
# change ends every session, as it does for Django's own sessions.
PASSWORD_CLAIM = "pwd"
# Every refresh token's (and its access tokens') rights version: how many times the user's rights
# had changed when it was issued (shop/identity/rights.py). A service's replica of the rights
# overrules only tokens issued before the change it knows of; a token without it (tools, tests:
# access_token_for) counts as issued before any.
RIGHTS_VERSION_CLAIM = "rv"
PASSWORD_CHANGED = "The password has changed since this token was issued."
# The users' database: only the identity service has it.
IDENTITY_DATABASE = "default"
NO_ACTIVE_ACCOUNT = "No active account found for the given token."


class AccountTaken(Exception):
    """The username or the email already belongs to an account (compared case-insensitively)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class RefreshRefused(Exception):
    """The refresh token is valid but its user may not have new tokens (code says why)."""

    def __init__(self, detail: str, code: str):
        super().__init__(detail)
        self.detail = detail
        self.code = code


def normalize_username(username: str) -> str:
    """NFKC, as Django stores usernames; comparisons are case-insensitive on top of it."""
    return unicodedata.normalize("NFKC", username)


def normalize_email(email: str) -> str:
    """The whole address in lower case: one mailbox, one account. (Strictly, the local part
    may be case-sensitive; no mail provider in use treats it so, and users do not expect it.)"""
    return email.strip().lower()


def users_by_username(username: str) -> QuerySet:
    """Users whose username equals this one ignoring case — the unique index's own expression,
    LOWER(username), so Postgres answers from the index (iexact would scan the table)."""
    key = normalize_username(username).lower()
    return get_user_model().objects.annotate(username_ci=Lower("username")).filter(username_ci=key)


def users_by_email(email: str) -> QuerySet:
    return get_user_model().objects.annotate(email_ci=Lower("email")).filter(email_ci=normalize_email(email))


def username_taken(username: str, *, exclude_pk: int | None = None) -> bool:
    return users_by_username(username).exclude(pk=exclude_pk).exists()


def email_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    return users_by_email(email).exclude(pk=exclude_pk).exists()


def register_user(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """Create a customer account (never staff). One account per username and per email address,
    both compared case-insensitively — enforced by unique indexes, so it holds under concurrency:
    of two racing sign-ups one wins and the other raises AccountTaken, exactly as if it had come
    second."""
    username, email = normalize_username(username), normalize_email(email)
    taken = _taken(username, email)
    if taken:
        raise AccountTaken(taken)
    try:
        with transaction.atomic(using="default"):
            return get_user_model().objects.create_user(username=username, email=email, password=password)
    except IntegrityError as exc:
        # The winner has committed by now (the index made us wait for it): ask again, and
        # answer exactly what a sign-up coming second hears.
        taken = _taken(username, email) or _taken_by(integrity.describe(exc))
        if not taken:
            raise
        raise AccountTaken(taken) from None


def _taken(username: str, email: str) -> dict[str, str]:
    taken = {}
    if username_taken(username):
        taken["username"] = USERNAME_TAKEN
    if email_taken(email):
        taken["email"] = EMAIL_TAKEN
    return taken


def _taken_by(violation: integrity.Violation) -> dict[str, str]:
    """Which identity the violated index guards (when the clashing row is gone again)."""
    if violation.kind != "unique":
        return {}
    names = {violation.constraint, *violation.columns}
    if names & {USERNAME_INDEX, "username"} or violation.constraint.startswith("auth_user_username"):
        return {"username": USERNAME_TAKEN}
    if names & {EMAIL_INDEX, "email"}:
        return {"email": EMAIL_TAKEN}
    return {}


# --- tokens -------------------------------------------------------------------------------------


class IdentityRefreshToken(RefreshToken):
    """simplejwt's refresh token. Its password fingerprint is copied into the access tokens made
    from it, like every claim: where identity is served, requests check it too. (It is an HMAC
    under SECRET_KEY of the password's hash, salt included: it tells nothing of the password.)"""


def issue_tokens(user: AbstractBaseUser) -> IdentityRefreshToken:
    """A new refresh token carrying the user's current claims (`.access_token` makes the access
    token from it); recorded as outstanding, so it can be used once or revoked."""
    refresh = IdentityRefreshToken.for_user(user)
    for claim, value in token_claims(user).items():
        refresh[claim] = value
    refresh[PASSWORD_CLAIM] = password_fingerprint(user)
    refresh[RIGHTS_VERSION_CLAIM] = rights_version(user)
    return refresh


def access_token_for(user: AbstractBaseUser) -> AccessToken:
    """An access token alone, with the claims a login gives, recording nothing: for tools,
    benchmarks and tests that act as a user (a client logs in at /api/auth/token/)."""
    access = AccessToken.for_user(user)
    for claim, value in token_claims(user).items():
        access[claim] = value
    access[PASSWORD_CLAIM] = password_fingerprint(user)
    return access


def token_claims(user: AbstractBaseUser) -> dict[str, object]:
    """What other services authorize with, since they have no user table."""
    return {"username": user.get_username(), "is_staff": bool(getattr(user, "is_staff", False))}


def rotate_refresh_token(raw: str) -> IdentityRefreshToken:
    """Exchange a refresh token for a new pair, built from the user as they are now.

    The given token is blacklisted in the same step, atomically: it is good for exactly one
    refresh, even when two requests race with it (the second is refused as a used token).
    Raises TokenError (invalid, expired, used) or RefreshRefused (the user may not have tokens).
    """
    old = IdentityRefreshToken(raw)  # signature, expiry, type, and not blacklisted
    user = _current_user(old)
    with transaction.atomic(using="default"):
        if not _blacklist(old):
            raise TokenError("Token is blacklisted")
        return issue_tokens(user)


def revoke_refresh_token(raw: str) -> None:
    """Log out: the refresh token can no longer be used. Access tokens already issued stay
    valid until they expire (JWT_ACCESS_MINUTES): services verify them without asking anyone.
    Raises TokenError for a token that is invalid, expired or already used."""
    token = IdentityRefreshToken(raw)
    if not _blacklist(token):
        raise TokenError("Token is blacklisted")


def active_account(user_id: object) -> AbstractBaseUser | None:
    """The user a token names (its user id claim) if they still exist and may log in (active);
    None otherwise. One primary-key lookup in the identity database."""
    try:
        user = get_user_model().objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).first()
    except (TypeError, ValueError):  # not an id at all (tokens are signed: only a bug gets here)
        return None
    if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
        return None
    return user


class Rights(NamedTuple):
    """What an active user may do now, as a request is authorized with it."""

    is_staff: bool
    password_fingerprint: str  # of the password as it is now: a token's PASSWORD_CLAIM must match


def current_rights(user_id: object) -> Rights | None:
    """The current rights of the user a token names, or None if they are gone or inactive
    (simplejwt's rule for logging in: is_active). On every authenticated request, so one
    statement by primary key, composed once: ~0.3 ms a request on Postgres with the password's
    fingerprint (~0.1 ms for the token alone), where the ORM's lookup cost ~0.75 ms, mostly
    compiling the query (authenticate() 500 times on the shared machine)."""
    sql = _rights_sql(connections[IDENTITY_DATABASE].vendor)
    row = statements.row_by_id(sql, inputs.as_id(user_id), using=IDENTITY_DATABASE)
    if row is None:
        return None
    is_active, is_staff, password = row
    if not is_active:
        return None
    return Rights(
        is_staff=bool(is_staff),
        password_fingerprint=password_fingerprint(get_user_model()(password=password)),
    )


def issued_for_current_password(token: Token, rights: Rights) -> bool:
    """Whether `token` was issued since the user's last password change (a token without the
    fingerprint cannot show it was)."""
    return hmac.compare_digest(str(token.get(PASSWORD_CLAIM, "")), rights.password_fingerprint)


@functools.cache
def _rights_sql(vendor: str) -> str:
    meta = get_user_model()._meta
    quote = connections[IDENTITY_DATABASE].ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("is_active", "is_staff", "password"))
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"


def _current_user(token: RefreshToken) -> AbstractBaseUser:
    user = active_account(token.get(jwt_settings.USER_ID_CLAIM))
    if user is None:
        raise RefreshRefused(NO_ACTIVE_ACCOUNT, "no_active_account")
    if not hmac.compare_digest(str(token.get(PASSWORD_CLAIM, "")), password_fingerprint(user)):
        raise RefreshRefused(PASSWORD_CHANGED, "password_changed")
    return user


def _user_of(token: RefreshToken) -> AbstractBaseUser | None:
    lookup = {jwt_settings.USER_ID_FIELD: token.get(jwt_settings.USER_ID_CLAIM)}
    return get_user_model().objects.filter(**lookup).first()


def _blacklist(token: RefreshToken) -> bool:
    """Blacklist the token; False if it already was (the loser of a race learns it here: the
    one-to-one BlacklistedToken row can be created once)."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[jwt_settings.JTI_CLAIM],
        defaults={
            "user": _user_of(token),
            "token": str(token),
            "created_at": token.current_time,
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


def rights_version(user: AbstractBaseUser) -> int:
    """The user's current rights version (0 if their rights never changed): one lookup by key."""
    return RightsVersion.objects.filter(pk=user.pk).values_list("version", flat=True).first() or 0


def password_fingerprint(user: AbstractBaseUser) -> str:
    """What a token's PASSWORD_CLAIM holds for the user's current password."""
    # Django's own session hash: an HMAC of the password hash under SECRET_KEY; changes with it.
    return user.get_session_auth_hash()[:32]
