from rest_framework.routers import SimpleRouter

from delivery.api.views import ShipmentViewSet

router = SimpleRouter()
router.register("shipments", ShipmentViewSet, basename="shipment")

urlpatterns = router.urls
