"""The orders HTTP API: parse, authorize, call a service, serialize."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from orders import selectors, services
from orders.api.serializers import CancelOrderSerializer, OrderSerializer, PlaceOrderSerializer
from orders.models import Order
from shop.api import Conflict


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A customer's own orders (staff: everyone's). Other customers' orders do not exist (404)."""

    serializer_class = OrderSerializer
    filterset_fields = ["status"]
    lookup_value_regex = r"\d+"

    def _caller(self) -> dict:
        # The customer is always the token's user, never something the body says.
        return {"user_id": int(self.request.user.id), "is_staff": bool(self.request.user.is_staff)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting, no caller
            return Order.objects.none()
        return selectors.list_orders_for(**self._caller())

    def get_object(self):
        order = selectors.get_order_for(order_id=int(self.kwargs["pk"]), **self._caller())
        if order is None:
            raise Http404
        return order

    @extend_schema(request=PlaceOrderSerializer, responses={201: OrderSerializer})
    def create(self, request):
        body = PlaceOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            order = services.place_order(customer_id=self._caller()["user_id"], **body.validated_data)
        except services.OrderInvalid as exc:
            raise serializers.ValidationError(exc.errors)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CancelOrderSerializer,
        responses={200: OrderSerializer, 409: OpenApiResponse(description="not cancellable, with why")},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        body = CancelOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        caller = self._caller()
        default = "cancelled by staff" if caller["is_staff"] else "cancelled by the customer"
        try:
            order = services.cancel_order(
                order_id=int(pk),
                reason=body.validated_data.get("reason") or default,
                by_customer_id=None if caller["is_staff"] else caller["user_id"],
            )
        except services.OrderNotFound:
            raise Http404
        except services.OrderNotCancellable as exc:
            raise Conflict(str(exc))
        return Response(OrderSerializer(order).data)
