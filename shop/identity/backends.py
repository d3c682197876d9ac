"""Log in with the username in any case: usernames are unique ignoring case, so at most one
account matches."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from shop.identity.services import users_by_username


class CaseInsensitiveModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        user = users_by_username(str(username)).first()
        if user is None:
            # Hash anyway, so a missing username takes as long as a wrong password (Django's
            # ModelBackend does the same against user enumeration by timing).
            self._fake_hash(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    @staticmethod
    def _fake_hash(password: str) -> None:
        from django.contrib.auth import get_user_model

        get_user_model()().set_password(password)
