from django.urls import path
from rest_framework.routers import SimpleRouter

from orders.api.views import OrderViewSet, ProjectionStatusView

router = SimpleRouter(trailing_slash=True)
# Mounted at /api/orders/ by shop/urls.py, so the collection is this prefix itself.
router.register("", OrderViewSet, basename="order")

urlpatterns = [path("projections/", ProjectionStatusView.as_view(), name="order-projections"), *router.urls]
