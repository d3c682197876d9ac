"""Fixtures shared by every app's tests and the cross-app tests.

Users live in `default`; tokens are real RS256 tokens that every app verifies statelessly.
`drain()` runs the relay and the in-process transport until every outbox is empty, i.e. until
the saga has gone as far as it can — what the monolith's relay thread does after each commit.
"""

from __future__ import annotations

import itertools
import os
import sys

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from devtools import reaper
from events.testing import drain as _drain

ALL_DATABASES = list(settings.SERVED_ALIASES)
_usernames = itertools.count(1)


_skipped: list[str] = []
_session: pytest.Session | None = None


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_configure(config):
    if not _is_xdist_worker(config):
        # A fresh id in the environment, inherited by every process the tests start (and by
        # pytest-xdist's workers): what is still running with it at the end was left behind.
        reaper.tag_run()


def pytest_sessionstart(session):
    global _session
    _session = session


def pytest_sessionfinish(session, exitstatus):
    """In CI nothing may skip: a skipped integration test is a test that did not run."""
    if os.environ.get("CI") and _skipped and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nCI: {len(_skipped)} test(s) skipped, which CI does not allow:\n  " + "\n  ".join(_skipped))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """No test may leave a process running: whatever the run started that is still alive at the
    very end (orphans included) fails the run — and is killed. Checked once, in the process
    that runs (or distributes) the tests, after pytest-xdist's workers are gone."""
    if _session is None or _is_xdist_worker(config):
        return
    left = reaper.survivors()
    if left:
        reaper.kill(left)
        sys.stderr.write(
            f"\n{len(left)} process(es) outlived the tests that started them (now killed):\n  "
            + "\n  ".join(map(str, left))
            + "\n"
        )
        _session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters (the cache) start empty in every test, as in a fresh process."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def drain():
    return _drain


def _user_fixture(name: str, *, staff: bool = False):
    """A fixture `name`: a new user of its own in each test (staff or a customer), with a password."""

    @pytest.fixture(name=name)
    def user(django_user_model):
        n = next(_usernames)
        return django_user_model.objects.create_user(
            username=f"{'staff' if staff else 'customer'}{n}",
            email=f"user{n}@example.com",
            password="correct-horse-battery",
            is_staff=staff,
        )

    return user


customer = _user_fixture("customer")
other_customer = _user_fixture("other_customer")
staff = _user_fixture("staff", staff=True)


def _client_for(user=None) -> APIClient:
    """An API client authenticated as `user` with a real access token (anonymous if None)."""
    from shop.identity.services import access_token_for

    client = APIClient()
    if user is not None:
        token = access_token_for(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def client_for():
    """`client_for(user)`: an API client with a real access token of `user` (anonymous if None)."""
    return _client_for


def _api_fixture(name: str, user_fixture: str):
    """A fixture `name`: an API client with a real access token of the user `user_fixture` gives."""

    @pytest.fixture(name=name)
    def api(request) -> APIClient:
        return _client_for(request.getfixturevalue(user_fixture))

    return api


customer_api = _api_fixture("customer_api", "customer")
other_api = _api_fixture("other_api", "other_customer")
staff_api = _api_fixture("staff_api", "staff")


@pytest.fixture
def anon_api():
    return _client_for(None)


@pytest.fixture(scope="session", autouse=True)
def _remove_test_database_folder():
    """The per-process SQLite test folder (see settings) goes when the session ends."""
    yield
    import shutil

    for alias in settings.DATABASES.values():
        name = str(alias.get("TEST", {}).get("NAME") or "")
        if f"{settings.DATA_DIR}/test/" in name:
            shutil.rmtree(name.rsplit("/", 1)[0], ignore_errors=True)
            break
