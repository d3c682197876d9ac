"""How every API request is authenticated: an RS256 access token, held to the user's current
rights in every service.

An access token is verified with the public key alone (signature, expiry, issuer, audience), so a
service needs no user table. But the token's claims are a snapshot of the user at login: a user
deactivated or deleted since then, a staff member demoted, or a user whose password changed
would keep their old rights for the token's life (JWT_ACCESS_MINUTES). So every request is held
to the user's current rights, by one primary-key lookup:

- where this process serves identity (the monolith, the modular monolith, the split's `shop`
  service), in the user table: a user who is gone or inactive, or whose password changed since
  the token was issued (its fingerprint, as refresh checks it), gets a 401, and `is_staff` is the
  flag as it is now, not as the token says;
- in a split service without the user table (catalog, orders, delivery), in its replica of users'
  rights (shop/rights), which identity's user_rights_changed events keep (shop/identity/rights.py):
  the same two 401s, and a demotion takes is_staff away. The replica overrules only a token
  issued before the change it knows of (the token's rights version, claim `rv`, is lower): a
  token issued since says more than the replica yet knows. A promotion is not granted here
  before the user's next token: the signed token is the most a replica may allow (it can only
  take rights away), and a refresh brings it within JWT_ACCESS_MINUTES. A user with no row never
  changed since the replica began: the token's claims decide.

The window left in a split service is the replication lag (relay + broker + consumer: typically
well under a second). If its consumer is down, the replica stops moving and the claims decide
until the token expires, as before: failing closed would turn a consumer outage into every
user's outage, and the token's expiry still bounds the risk.
"""

from __future__ import annotations

import enum

from django.conf import settings
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.models import TokenUser

from shop.identity import services
from shop.rights import replica


class _Claims(enum.Enum):
    """No change of the user's rights is known since the token was issued: its claims decide."""

    DECIDE = "decide"


_CLAIMS = _Claims.DECIDE


class CurrentRightsAuthentication(JWTStatelessUserAuthentication):
    """The token's user (a TokenUser: id, username, is_staff), or a 401 — with the user's current
    rights, from the user table or from this service's replica (see the module docstring)."""

    def get_user(self, validated_token) -> TokenUser:
        user = super().get_user(validated_token)
        rights = self.current_rights(user, validated_token)
        if rights is _CLAIMS:
            return user
        if rights is None:
            raise AuthenticationFailed(services.NO_ACTIVE_ACCOUNT, code="no_active_account")
        if not services.issued_for_current_password(validated_token, rights):
            raise AuthenticationFailed(services.PASSWORD_CHANGED, code="password_changed")
        # TokenUser reads the claim once (a cached property): the current flag replaces it.
        user.is_staff = rights.is_staff
        return user

    @staticmethod
    def current_rights(user: TokenUser, token) -> services.Rights | _Claims | None:
        """The user's rights now (None: gone or inactive), or _CLAIMS. One lookup by key."""
        if settings.SERVES_IDENTITY:
            return services.current_rights(user.id)
        if settings.RIGHTS_REPLICA_DATABASE is None:
            return _CLAIMS
        replicated = replica.rights_of(user.id, using=settings.RIGHTS_REPLICA_DATABASE)
        if replicated is None or _issued_at_version(token) >= replicated.version:
            return _CLAIMS  # nothing known here that the token does not already say
        if not replicated.is_active:
            return None
        # A replica takes rights away, never adds: the token's claim is the ceiling.
        return services.Rights(user.is_staff and replicated.is_staff, replicated.password_fingerprint)


def _issued_at_version(token) -> int:
    try:
        return int(token.get(services.RIGHTS_VERSION_CLAIM, 0))
    except (TypeError, ValueError):  # tokens are signed: only a bug gets here
        return 0


class CurrentRightsScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of CurrentRightsAuthentication: simplejwt's bearer JWT
    (drf-spectacular finds an extension by its exact class; importing this module registers it)."""

    target_class = "shop.identity.authentication.CurrentRightsAuthentication"
