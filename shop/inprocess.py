"""What the monolith runs inside its web process so that no other process is needed:
the outbox relay (woken on commit), a Celery worker on the in-memory broker (which honours
countdowns, so shipments progress over seconds as they would with a real worker) and Celery
beat (pending orders time out, stalled shipments resume, the token blacklist is flushed).

All of them are threads of the web process: nothing else is started, so stopping the server
(SIGTERM is enough) stops everything."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

log = logging.getLogger(__name__)


def start_background_workers() -> None:
    if settings.EVENTS["RELAY_IN_PROCESS"]:
        from events.outbox import in_process

        in_process.start()
    if settings.CELERY_IN_PROCESS_WORKER:
        _start_celery_worker()


def _start_celery_worker() -> None:
    from celery.beat import EmbeddedService

    from shop.celery import app

    # A solo-pool worker in a daemon thread; the memory broker only exists inside this process.
    worker = app.WorkController(
        pool_cls="solo",
        concurrency=1,
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        beat=False,
    )
    threading.Thread(target=worker.start, name="shop-celery", daemon=True).start()
    # Beat in a thread of this process too. The worker's own `beat=True` forks a child process:
    # its tasks went into the child's copy of the memory broker, which no worker reads (pending
    # orders never timed out), and the child outlived a server stopped with SIGTERM.
    EmbeddedService(
        app, thread=True, schedule_filename=str(settings.DATA_DIR / "celerybeat-schedule")
    ).start()
    log.info("in-process Celery worker and beat started (broker %s)", settings.CELERY_BROKER_URL)
