"""Look inside one process started with SHOP_SERVICES=<name>: what it configured and what it
serves. Run as `python -m tests.split.probe` in a process whose environment selects the service
(tests/split/test_service_selection.py does, one process per service); prints one JSON object.

It migrates the service's own (SQLite) databases into SHOP_DATA_DIR first, the way a split
service is migrated: `migrate_all` under its SHOP_SERVICES.
"""

from __future__ import annotations

import io
import json
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from events.registry import all_handlers, topics_for
    from shop.health import database_status

    call_command("migrate_all", verbosity=0, stdout=io.StringIO())

    tokens = json.loads(os.environ.get("PROBE_TOKENS", "{}"))
    client = Client()

    def call(method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        if method == "GET":
            response = client.get(path, **headers)
        else:
            response = client.post(path, json.dumps(body or {}), content_type="application/json", **headers)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return {"status": response.status_code, "json": payload}

    requests = {
        "healthz": call("GET", "/healthz"),
        "readyz": call("GET", "/readyz"),
        "schema": call("GET", "/api/schema/?format=json"),
        "auth_register": call(
            "POST",
            "/api/auth/register/",
            body={"username": "probe", "email": "probe@example.com", "password": "a-long-passphrase-9"},
        ),
        "catalog_list": call("GET", "/api/catalog/products/"),
        "catalog_create_as_staff": call(
            "POST",
            "/api/catalog/products/",
            tokens.get("staff"),
            {"sku": "PRB-1", "name": "Probe", "price": "1.00", "stock": 3},
        ),
        "catalog_create_as_customer": call(
            "POST",
            "/api/catalog/products/",
            tokens.get("customer"),
            {"sku": "PRB-2", "name": "Probe", "price": "1.00", "stock": 3},
        ),
        "orders_list": call("GET", "/api/orders/", tokens.get("customer")),
        "orders_list_anonymous": call("GET", "/api/orders/"),
        "delivery_list": call("GET", "/api/delivery/shipments/", tokens.get("customer")),
        "admin": call("GET", "/admin/login/"),
    }
    for response in requests.values():
        if isinstance(response["json"], dict) and "paths" in response["json"]:
            response["json"] = {"paths": sorted(response["json"]["paths"])}

    from shop.celery import app as celery_app

    admin_models: list[str] = []
    if "django.contrib.admin" in settings.INSTALLED_APPS:
        from django.contrib import admin

        import shop.urls  # noqa: F401  (builds the admin of this process)

        admin_models = sorted(model._meta.label_lower for model in admin.site._registry)

    report = {
        "services": settings.SHOP_SERVICES,
        "databases": sorted(
            alias
            for alias, config in settings.DATABASES.items()
            if config.get("ENGINE") not in (None, "django.db.backends.dummy")
        ),
        "default_engine": settings.DATABASES["default"].get("ENGINE"),
        "opens": {
            alias: database_status(alias)
            for alias in ("default", "catalog", "orders", "orders_read", "delivery")
        },
        "installed_apps": settings.INSTALLED_APPS,
        "middleware": settings.MIDDLEWARE,
        "celery_queue": celery_app.conf.task_default_queue,
        "beat": sorted(settings.CELERY_BEAT_SCHEDULE),
        "consumer_topics": topics_for(settings.SHOP_SERVICES),
        "handler_databases": sorted({h.alias for h in all_handlers(settings.SHOP_SERVICES)}),
        "jwt_can_sign": bool(settings.SIMPLE_JWT["SIGNING_KEY"]),
        "admin_models": admin_models,
        "requests": requests,
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
