"""The monolith's relay: a thread inside the web process, woken right after each commit.

In the split deployment a separate `relay_outbox` process does this, woken by Postgres NOTIFY;
here publish() kicks events.outbox.wakeup on commit, so the saga moves on within milliseconds
without any other process. Nothing is sent inside the request: the thread picks the rows up
after commit. Started by the host (EVENTS["RELAY_IN_PROCESS"]) once its apps are loaded.
"""

from __future__ import annotations

import atexit
import logging
import threading

from events.outbox.wakeup import wake

log = logging.getLogger(__name__)

_stop = threading.Event()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def start() -> None:
    """Start the relay thread for every database this process serves (once per process)."""
    global _thread
    with _start_lock:
        if _thread is not None:
            return
        from events.outbox import relay
        from events.settings import events_settings
        from events.transports import get_transport

        def loop() -> None:
            # The thread must outlive any bug or outage: a dead relay thread would silently
            # stop the saga while the API keeps accepting orders.
            while not _stop.is_set():
                transport = get_transport()
                try:
                    relay.run(events_settings.served_databases(), transport, stop=_stop, wake=wake)
                except Exception:
                    log.exception("in-process relay crashed; restarting in 1s")
                    _stop.wait(1.0)
                finally:
                    transport.close()

        _thread = threading.Thread(target=loop, name=f"{events_settings.NAME}-relay", daemon=True)
        _thread.start()
        # A process that exits (Ctrl-C, SIGTERM to runserver, a gunicorn worker's graceful exit)
        # lets the batch in hand be handled and marked first. A daemon thread cut off between the
        # handlers and the mark leaves a row that every handler saw but that looks unsent: it is
        # delivered again (a no-op, by the inboxes) and, when moving to Kafka, left out of the
        # history (events/history.py) that rebuild_projections replays.
        atexit.register(stop)
        log.info("in-process relay started (transport=%s)", events_settings.TRANSPORT)


def stop(timeout: float = 10.0) -> None:
    """Stop the relay thread after its batch in flight (tests; process shutdown)."""
    global _thread
    _stop.set()
    wake.set()
    if _thread is not None:
        _thread.join(timeout)
        _thread = None
    _stop.clear()
