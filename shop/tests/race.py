"""Run calls at the same moment from real threads, each with its own database connections —
how the race tests make two requests pass a check before either writes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.db import connections

T = TypeVar("T")


def at_once(calls: Sequence[Callable[[], T]], timeout: float = 60) -> list[T]:
    """Each call in a thread of its own, released together by a barrier; their results in order.
    Raises the first exception a call raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[i] = calls[i]()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's connections, or the test database stays busy

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        raise errors[0]
    return results
