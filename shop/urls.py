"""URL composition: each served service contributes its routes under the prefix the gateway
sends to it (shop/topology.py), so paths are identical in the monolith and the split."""

from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop import health, metrics_view, topology

# Every service's routes, for the OpenAPI schema only: the gateway's API is documented whole by
# every process (no database is touched to describe it), so /api/schema/ is the same in every shape.
API_ROUTES = [path(s.url_prefix.lstrip("/"), include(s.urlconf)) for s in topology.SERVICES.values()]

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics_view.metrics),
    path("api/schema/", SpectacularAPIView.as_view(patterns=API_ROUTES), name="schema"),
    # A page, read with GET: OPTIONS would render DRF's metadata with the page's HTML template
    # renderer (a 500); any other method is a 405 in the API's error shape.
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="docs",
    ),
]
for name in settings.SHOP_SERVICES:
    service = topology.SERVICES[name]
    urlpatterns.append(path(service.url_prefix.lstrip("/"), include(service.urlconf)))

if "shop" in settings.SHOP_SERVICES:
    from django.contrib import admin  # installed only where the identity service runs

    from shop.routers import alias_for

    # The admin shows only models whose database this process has: in the split, the shop
    # service's admin is users, groups and its own outbox, not another service's tables.
    # (The events models live in every database: alias_for gives None, and they stay.)
    for model in list(admin.site._registry):
        home = alias_for(model._meta.app_label)
        if home is not None and home not in settings.SERVED_ALIASES:
            admin.site.unregister(model)
    urlpatterns.append(path("admin/", admin.site.urls))
    if not settings.DEBUG:
        # The admin's CSS/JS (collectstatic): small and only for staff, so the identity service
        # serves them itself behind the gateway rather than needing a separate file server.
        urlpatterns.append(re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}))
