"""The monolith's in-process event runtime: a relay thread woken right after each commit.

In the split deployment a separate `relay_outbox` process does this, woken by Postgres NOTIFY;
here publish() schedules kick() on commit, so the saga moves on within milliseconds without any
other process. Nothing is sent inside the request: the thread picks the rows up after commit.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

_wake = threading.Event()
_stop = threading.Event()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def kick(alias: str | None = None) -> None:
    """Wake the in-process relay (a no-op where none runs: another process polls/listens)."""
    _wake.set()


def start() -> None:
    """Start the relay thread for every database this process serves (once per process)."""
    global _thread
    with _start_lock:
        if _thread is not None:
            return
        from django.conf import settings

        from events import relay
        from events.transports import get_transport

        def loop() -> None:
            # The thread must outlive any bug or outage: a dead relay thread would silently
            # stop the saga while the API keeps accepting orders.
            while not _stop.is_set():
                transport = get_transport()
                try:
                    relay.run(settings.SERVED_ALIASES, transport, stop=_stop, wake=_wake)
                except Exception:
                    log.exception("in-process relay crashed; restarting in 1s")
                    _stop.wait(1.0)
                finally:
                    transport.close()

        _thread = threading.Thread(target=loop, name="shop-relay", daemon=True)
        _thread.start()
        log.info("in-process relay started (transport=%s)", settings.EVENTS["TRANSPORT"])


def stop(timeout: float = 10.0) -> None:
    global _thread
    _stop.set()
    _wake.set()
    if _thread is not None:
        _thread.join(timeout)
        _thread = None
    _stop.clear()
