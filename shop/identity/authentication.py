"""How every API request is authenticated: an RS256 access token, held to the user's current rights
wherever the user table is at hand.

An access token is verified with the public key alone (signature, expiry, issuer, audience), so a
service needs no user table. But the token's claims are a snapshot of the user at login: a user
deactivated or deleted since then, or a staff member demoted, would keep their old rights for the
token's life (JWT_ACCESS_MINUTES). So where this process serves identity, and the user table is
one primary-key lookup away (the monolith, the modular monolith, the split's `shop` service), the
user's current state decides: a user who is gone or inactive, or whose password changed since
the token was issued (its fingerprint, as refresh checks it), gets a 401 on their next request,
and `is_staff` is the flag as it is now, not as the token says. A split service with no user
table has only the claims: there a change takes effect when the token expires, at the latest.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.models import TokenUser

from shop.identity import services


class CurrentRightsAuthentication(JWTStatelessUserAuthentication):
    """The token's user (a TokenUser: id, username, is_staff), or a 401 — with the user's current
    rights wherever identity is served (see the module docstring)."""

    def get_user(self, validated_token) -> TokenUser:
        user = super().get_user(validated_token)
        if settings.SERVES_IDENTITY:
            rights = services.current_rights(user.id)
            if rights is None:
                raise AuthenticationFailed(services.NO_ACTIVE_ACCOUNT, code="no_active_account")
            if not services.issued_for_current_password(validated_token, rights):
                raise AuthenticationFailed(services.PASSWORD_CHANGED, code="password_changed")
            # TokenUser reads the claim once (a cached property): the current flag replaces it.
            user.is_staff = rights.is_staff
        return user


class CurrentRightsScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of CurrentRightsAuthentication: simplejwt's bearer JWT
    (drf-spectacular finds an extension by its exact class; importing this module registers it)."""

    target_class = "shop.identity.authentication.CurrentRightsAuthentication"
