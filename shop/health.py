"""/healthz: the process is alive. /readyz: it can serve its own traffic — every database this
process serves answers. That is what a load balancer or Kubernetes should ask before sending it
requests, and nothing more:

- the event broker (Kafka) is not part of it: a web process writes its events to the outbox in
  its own database, and the relay sends them once the broker is back. Taking every web replica
  out of rotation during a broker outage would turn an invisible outage into a total one;
- its databases are: without them it can answer nothing but 503s.

`/readyz?full` also reports the dependencies that do not decide readiness (the Kafka broker, the
Celery broker), for people and dashboards; the status code still means "ready" only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from events.settings import events_settings


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok", "services": settings.SHOP_SERVICES})


@require_GET
def readyz(request):
    checks = {f"database:{alias}": database_status(alias) for alias in settings.SERVED_ALIASES}
    ready = all(v == "ok" for v in checks.values())
    body: dict = {"status": "ready" if ready else "unready", "checks": checks}
    if "full" in request.GET:
        body["dependencies"] = _dependencies()
    return JsonResponse(body, status=200 if ready else 503)


def database_status(alias: str) -> str:
    """ "ok" if the database `alias` answers a query, else "error: <the exception's class>"."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def _dependencies() -> dict[str, str]:
    """Reachability of what this process needs only indirectly (not part of readiness)."""
    found: dict[str, str] = {}
    if events_settings.TRANSPORT == "kafka":
        from events.transports.kafka.admin import broker_reachable

        found["broker"] = "ok" if broker_reachable() else "error: unreachable"
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        found["celery_broker"] = _redis(settings.CELERY_BROKER_URL)
    return found


def _redis(url: str) -> str:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except redis.RedisError as exc:
        return f"error: {exc.__class__.__name__}"
