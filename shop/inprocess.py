"""What the monolith runs inside its web process so that no other process is needed:
the outbox relay (woken on commit) and a Celery worker on the in-memory broker (which honours
countdowns, so shipments progress over seconds as they would with a real worker)."""

from __future__ import annotations

import logging
import threading

from django.conf import settings

log = logging.getLogger(__name__)


def start_background_workers() -> None:
    if settings.EVENTS["RELAY_IN_PROCESS"]:
        from events import runtime

        runtime.start()
    if settings.CELERY_IN_PROCESS_WORKER:
        _start_celery_worker()


def _start_celery_worker() -> None:
    from shop.celery import app

    # A solo-pool worker in a daemon thread; the memory broker only exists inside this process.
    worker = app.WorkController(
        pool_cls="solo",
        concurrency=1,
        loglevel="WARNING",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        beat=True,
        schedule_filename=str(settings.DATA_DIR / "celerybeat-schedule"),
    )
    threading.Thread(target=worker.start, name="shop-celery", daemon=True).start()
    log.info("in-process Celery worker started (broker %s)", settings.CELERY_BROKER_URL)
