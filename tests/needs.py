"""What a test needs that it cannot start itself: `require` skips it locally, saying how to start
the missing piece, and fails it in CI (CI=true), so no such test can silently not run."""

from __future__ import annotations

import os

import pytest

SERVICES = "make services (scripts/postgres-local, kafka-local, redis-local)"


def require(what: str, ok: bool, how: str = SERVICES) -> None:
    """Return if `ok`; otherwise skip (locally) or fail (in CI) naming `what` and `how` to start it."""
    if ok:
        return
    message = f"{what} is not reachable; start it with {how}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every integration test: {message}")
    pytest.skip(message)
