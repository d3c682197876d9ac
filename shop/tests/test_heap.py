"""The web and Celery workers freeze their start-up heap once the app is loaded
(events/heap.py), as the relay and consumer processes do (events/tests/test_heap.py)."""

import gc
import runpy

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_web_workers_freeze_once_the_app_is_loaded():
    config = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
    config["post_worker_init"](worker=None)
    assert gc.get_freeze_count() > 1000


def test_celery_worker_processes_freeze_once_the_tasks_are_loaded():
    from celery.signals import worker_process_init

    import shop.celery  # noqa: F401  (connects the handler, as a worker does)

    worker_process_init.send(sender=None)
    assert gc.get_freeze_count() > 1000
