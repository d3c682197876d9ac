"""Fault injection for the fault-tolerance tests (tests/integration/test_kafka_faults.py).

Production never sets EVENTS_FAULT; a test starts a relay or consumer process with, e.g.,
EVENTS_FAULT=consumer.applied_before_offset_commit:3 and the process dies (like SIGKILL: no
cleanup, no offset commit, no outbox update) the 3rd time it passes that point. This is how the
tests hit the exact windows that random kills only hit by luck. EVENTS_FAIL_HANDLER=<handler>
makes one handler raise on every event (after its inbox row was written, inside its
transaction), standing in for a bug that a later deploy fixes; EVENTS_SLOW_HANDLER=<handler>:<s>
makes it take that many seconds instead, so a test can stop a process with an event in hand.
"""

from __future__ import annotations

import os
import time

_spec = os.environ.get("EVENTS_FAULT", "")
_name, _, _after = _spec.partition(":")
_remaining = int(_after or 1) if _name else 0


def point(name: str) -> None:
    global _remaining
    if _name != name:
        return
    _remaining -= 1
    if _remaining == 0:
        os._exit(137)  # no finally blocks, no atexit: as abrupt as SIGKILL


_failing_handler = os.environ.get("EVENTS_FAIL_HANDLER", "")
_slow_handler, _, _slow_seconds = os.environ.get("EVENTS_SLOW_HANDLER", "").partition(":")


class InjectedFailure(RuntimeError):
    """Raised by the handler named in EVENTS_FAIL_HANDLER: a stand-in for a handler bug."""


def handler(name: str) -> None:
    if name == _failing_handler:
        raise InjectedFailure(f"injected failure in {name} (EVENTS_FAIL_HANDLER)")
    if name == _slow_handler:
        time.sleep(float(_slow_seconds))
