"""The Celery app: Redis in the split deployment, memory:// with an in-process worker in the
monolith (see shop/wsgi.py), eager in tests.

Every task runs in the trace and request of the code that enqueued it: the request id (and,
when tracing is off, the traceparent) travel in the task's headers. With tracing on, the
Celery instrumentation (shop/telemetry.py) carries the trace and makes the task's spans.
"""

import os

from celery import Celery, Task
from celery.signals import before_task_publish, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")


class TracedTask(Task):
    """A task that runs inside the trace and request id its headers carry."""

    def __call__(self, *args, **kwargs):
        from events import tracing
        from shop import telemetry

        traceparent = None if telemetry.enabled() else getattr(self.request, "traceparent", None)
        with tracing.context(traceparent=traceparent, request_id=getattr(self.request, "request_id", None)):
            return super().__call__(*args, **kwargs)


@before_task_publish.connect
def _carry_trace_context(headers=None, **kwargs) -> None:
    from events import tracing
    from shop import telemetry

    if headers is None:
        return
    if request_id := tracing.request_id_var.get():
        headers.setdefault("request_id", request_id)
    if not telemetry.enabled():
        headers.setdefault("traceparent", tracing.new_traceparent())


@worker_process_init.connect
def _freeze_startup_heap(**kwargs) -> None:
    from events.heap import freeze_startup_heap

    freeze_startup_heap()  # a worker process has loaded the tasks' code: see events/heap.py


app = Celery("shop", task_cls=TracedTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
