from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from delivery import selectors, services
from delivery.api.serializers import AdvanceSerializer, ShipmentDetailSerializer, ShipmentSerializer
from delivery.models import Shipment
from shop.api import Conflict, IsStaff
from shop.inputs import ID_PATH_PATTERN, IdFilter


class ShipmentFilter(filters.FilterSet):
    order_id = IdFilter(help_text="Only the shipment of this order.")

    class Meta:
        model = Shipment
        fields = ["status", "order_id"]


@extend_schema_view(
    list=extend_schema(summary="List shipments (own; staff: all)", description="Newest first, in pages."),
    retrieve=extend_schema(
        summary="Get a shipment with its history",
        description="Another customer's shipment is a 404.",
    ),
)
class ShipmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Shipments: customers see their own, staff see all and may advance them by hand."""

    filterset_class = ShipmentFilter
    lookup_value_regex = ID_PATH_PATTERN

    def get_queryset(self):
        user = self.request.user
        is_staff = bool(getattr(user, "is_staff", False))
        # The token's user id claim may be a string; stateless auth: no user table here.
        customer_id = int(user.id) if user is not None and user.id is not None else None
        shipments = selectors.list_shipments_for(customer_id=customer_id, is_staff=is_staff)
        if self.action != "list":
            shipments = selectors.with_history(shipments)
        return shipments

    def get_serializer_class(self):
        if self.action == "list":
            return ShipmentSerializer
        if self.action == "advance":
            return AdvanceSerializer
        return ShipmentDetailSerializer

    @extend_schema(
        summary="Advance a shipment one step (staff)",
        request=AdvanceSerializer,
        responses={
            200: ShipmentDetailSerializer,
            409: OpenApiResponse(description="Not a legal step from the current status: `detail` says why."),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[IsStaff])
    def advance(self, request: Request, pk: str | None = None) -> Response:
        """Move the shipment one step forward (to `status`, default the next). Staff only.

        An illegal step (skipping, going back, a final status) is a 409 with the reason.
        """
        shipment = self.get_object()
        params = AdvanceSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            services.advance_shipment(shipment_id=shipment.id, to_status=params.validated_data.get("status"))
        except services.InvalidTransition as exc:
            raise Conflict(exc.reason)
        except services.ShipmentNotFound:
            raise NotFound()
        shipment = selectors.with_history(Shipment.objects.filter(pk=shipment.pk)).get()
        return Response(ShipmentDetailSerializer(shipment).data)
