"""Rate limits on the identity endpoints, in every shape (the gateway adds its own in the split).

Each endpoint is limited per client IP *and* per account: per IP slows one machine trying many
usernames, per account slows many machines guessing one password. Rates are settings
(`SHOP_THROTTLE_RATES`, see shop/settings.py); a refused request is a 429 with Retry-After.

Counting is a fixed window per (scope, who): one `cache.add` + `cache.incr`, both atomic in
Redis and in the local-memory cache, so parallel requests cannot slip past the limit the way
they can with DRF's default history list (read, append, write back). The counters live in the
cache, which is Redis wherever more than one process serves (see CACHES in settings).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend

from shop.identity.services import normalize_username

log = logging.getLogger(__name__)


class WindowThrottle(SimpleRateThrottle):
    """A fixed-window counter per scope and identity; subclasses say whom a request counts for."""

    def get_rate(self) -> str | None:
        # Read per request (DRF reads its rates once, at import): settings and tests can change them.
        return settings.SHOP_THROTTLE_RATES.get(self.scope)

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._wait = 0.0

    def identity(self, request, view) -> str | None:
        """Who the request counts for (None: this throttle does not apply to it)."""
        raise NotImplementedError

    def get_cache_key(self, request, view) -> str | None:
        who = self.identity(request, view)
        if who is None:
            return None
        # Any input (a lone surrogate included: throttles run before the fields are validated)
        # becomes a bounded, safe key.
        digest = hashlib.sha256(who.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"throttle:{self.scope}:{digest}"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        key = f"{key}:{window}"
        try:
            count = self._increment(key)
        except Exception:
            # The cache (Redis) is down: let the request through rather than lock everyone out
            # of their accounts; the gateway's limits still hold in the split. Loudly.
            log.exception("throttle %s: cache unavailable, not counting", self.scope)
            return True
        if count > self.num_requests:
            self._wait = (window + 1) * self.duration - now
            return False
        return True

    def _increment(self, key: str) -> int:
        self.cache.add(key, 0, timeout=self.duration + 1)
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between add and incr
            self.cache.add(key, 1, timeout=self.duration + 1)
            return 1

    def wait(self) -> float:
        return self._wait


class PerIp(WindowThrottle):
    """Per client address: REMOTE_ADDR, or the address the trusted proxies in front of us saw
    (REST_FRAMEWORK NUM_PROXIES = SHOP_TRUSTED_PROXIES; a client cannot choose its own)."""

    def identity(self, request, view) -> str | None:
        return self.get_ident(request)


class PerUsername(WindowThrottle):
    """Per account named in the body (`username`), ignoring case as accounts do: a JSON body in
    the API, the form of a page outside DRF (the admin's login)."""

    def identity(self, request, view) -> str | None:
        data: Any = request.data if isinstance(request, Request) else request.POST
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str) or not username:
            return None
        return normalize_username(username).lower()


class PerTokenUser(WindowThrottle):
    """Per account a (validly signed) refresh token belongs to. Unsigned or forged tokens do not
    count against anyone's account — the per-IP limit takes them."""

    def identity(self, request, view) -> str | None:
        data: Any = request.data
        raw = data.get("refresh") if isinstance(data, dict) else None
        if not isinstance(raw, str) or not raw:
            return None
        try:
            payload = token_backend.decode(raw, verify=True)
        except TokenBackendError:
            return None
        user_id = payload.get(jwt_settings.USER_ID_CLAIM)
        return None if user_id is None else str(user_id)


def _scoped(base: type[WindowThrottle], scope: str) -> type[WindowThrottle]:
    return type(f"{base.__name__}[{scope}]", (base,), {"scope": scope, "__module__": __name__})


TOKEN = [_scoped(PerIp, "auth.token.ip"), _scoped(PerUsername, "auth.token.username")]
REFRESH = [_scoped(PerIp, "auth.refresh.ip"), _scoped(PerTokenUser, "auth.refresh.user")]
REGISTER = [_scoped(PerIp, "auth.register.ip"), _scoped(PerUsername, "auth.register.username")]
LOGOUT = [_scoped(PerIp, "auth.logout.ip")]
VERIFY = [_scoped(PerIp, "auth.verify.ip")]


def wait_before(request: HttpRequest, throttle_classes: list[type[WindowThrottle]]) -> float | None:
    """For a view outside DRF (the admin's login form): None if every throttle lets the request
    through, else the seconds to wait. Counted in the same windows as the API's endpoints with
    the same throttles, so a password guessed on the admin's form and on /api/auth/token/ draws
    on one budget per address and per account."""
    waits = []
    for throttle_class in throttle_classes:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait())
    return max(waits) if waits else None
