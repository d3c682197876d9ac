"""/healthz: the process is alive. /readyz: every database this process serves answers (and
the broker, when events go through Kafka) — what a load balancer or Kubernetes should ask."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok", "services": settings.SHOP_SERVICES})


@require_GET
def readyz(request):
    checks: dict[str, str] = {}
    for alias in settings.SERVED_ALIASES:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
            checks[f"database:{alias}"] = "ok"
        except Exception as exc:
            checks[f"database:{alias}"] = f"error: {exc.__class__.__name__}"
    if settings.EVENTS["TRANSPORT"] == "kafka":
        from events.transports.kafka.admin import broker_reachable

        checks["broker"] = "ok" if broker_reachable() else "error: unreachable"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unready", "checks": checks}, status=200 if ready else 503
    )
