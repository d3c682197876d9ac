"""URL composition: each served service contributes its routes under the prefix the gateway
sends to it (shop/topology.py), so paths are identical in the monolith and the split."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop import health, metrics_view, topology

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics_view.metrics),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
for name in settings.SHOP_SERVICES:
    service = topology.SERVICES[name]
    urlpatterns.append(path(service.url_prefix.lstrip("/"), include(service.urlconf)))
if "shop" in settings.SHOP_SERVICES:
    urlpatterns.append(path("admin/", admin.site.urls))
