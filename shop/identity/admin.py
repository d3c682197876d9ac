"""The users admin, with the same identity rules as sign-up: a username or an email address that
differs from another account's only in case is taken (shop/identity/services.py)."""

from __future__ import annotations

import functools
import math

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpResponse
from rest_framework_simplejwt.token_blacklist.admin import BlacklistedTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from shop.admin import ReadOnlyAdminMixin
from shop.identity import services, throttles


class _SameRulesAsSignUp:
    """Checked in the form, so a duplicate is a message on the page, not an IntegrityError."""

    cleaned_data: dict
    instance: object

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username") or ""
        if username and services.username_taken(username, exclude_pk=self.instance.pk):
            raise forms.ValidationError(services.USERNAME_TAKEN, code="unique")
        return services.normalize_username(username)

    def clean_email(self) -> str:
        email = self.cleaned_data.get("email") or ""
        if email and services.email_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError(services.EMAIL_TAKEN, code="unique")
        return services.normalize_email(email) if email else email


class IdentityUserCreationForm(_SameRulesAsSignUp, AdminUserCreationForm):
    pass


class IdentityUserChangeForm(_SameRulesAsSignUp, UserChangeForm):
    pass


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class IdentityUserAdmin(UserAdmin):
    form = IdentityUserChangeForm
    add_form = IdentityUserCreationForm


# simplejwt's blacklist admin lets staff delete a blacklisted token — bringing a revoked refresh
# token back to life — or add one by hand. Revoking is logout's job (and refresh's); here the
# list is read-only.
admin.site.unregister(BlacklistedToken)


@admin.register(BlacklistedToken)
class ReadOnlyBlacklistedTokenAdmin(ReadOnlyAdminMixin, BlacklistedTokenAdmin):
    pass


def _throttled(login_view):
    """The admin's login, limited as /api/auth/token/ is (per address and per username, the same
    counters): without it the form would be a way around the API's limits to guess a password."""

    @functools.wraps(login_view)
    def login(request, extra_context=None):
        if request.method == "POST":
            wait = throttles.wait_before(request, throttles.TOKEN)
            if wait is not None:
                seconds = math.ceil(wait)
                response = HttpResponse(
                    f"Too many login attempts. Try again in {seconds} seconds.\n",
                    status=429,
                    content_type="text/plain; charset=utf-8",
                )
                response["Retry-After"] = str(seconds)
                return response
        return login_view(request, extra_context)

    return login


admin.site.login = _throttled(admin.site.login)  # type: ignore[method-assign]
