"""The orders HTTP API: parse, authorize, call a service, serialize.

CQRS: writes (place, cancel) go to the write side and answer from it, with a consistency token
(`X-Consistency-Token`: the id of the event the write produced). Reads come from the read side
only; a read that sends the token back waits briefly until the read side has applied it.
"""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.api.serializers import (
    CancelOrderSerializer,
    OrderListQuerySerializer,
    OrderSerializer,
    OrderSummarySerializer,
    PlaceOrderSerializer,
)
from orders.read import queries
from orders.read.projection import projection_state
from shop.api import Conflict, IsStaff
from shop.inputs import ID_PATH_PATTERN
from shop.pagination import CursorPages

TOKEN_HEADER = "X-Consistency-Token"
CONSISTENCY_PARAMETER = OpenApiParameter(
    TOKEN_HEADER,
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="A token from a write: wait (briefly) until the read side reflects that write.",
)


class NewestFirst(CursorPages):
    """Cursor pages: a page costs the same with 1k or 100k orders (no COUNT, no OFFSET)."""

    ordering = queries.LIST_ORDERING


class OrderViewSet(viewsets.GenericViewSet):
    """A customer's own orders (staff: everyone's). Other customers' orders do not exist (404)."""

    serializer_class = OrderSummarySerializer
    pagination_class = NewestFirst
    filter_backends = []
    lookup_value_regex = ID_PATH_PATTERN

    def _caller(self) -> dict:
        # The customer is always the token's user, never something the body says.
        return {"user_id": int(self.request.user.id), "is_staff": bool(self.request.user.is_staff)}

    def _read_your_writes(self, request) -> dict[str, str]:
        """Wait for the client's own write if it sent a token; say how fresh the read is."""
        headers = {}
        token = request.headers.get(TOKEN_HEADER)
        if token:
            try:
                token = str(uuid.UUID(token))
            except ValueError:
                raise serializers.ValidationError({TOKEN_HEADER: ["Must be a token returned by a write."]})
            headers["X-Consistency"] = "applied" if queries.wait_for_event(token) else "stale"
        as_of = projection_state().last_event_time
        if as_of:
            headers["X-Read-Model-As-Of"] = as_of.isoformat()
        return headers

    @extend_schema(parameters=[OrderListQuerySerializer, CONSISTENCY_PARAMETER])
    def list(self, request):
        query = OrderListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        headers = self._read_your_writes(request)
        page = self.paginate_queryset(queries.list_summaries_for(**self._caller(), **query.validated_data))
        response = self.get_paginated_response(OrderSummarySerializer(page, many=True).data)
        for name, value in headers.items():
            response[name] = value
        return response

    @extend_schema(parameters=[CONSISTENCY_PARAMETER])
    def retrieve(self, request, pk=None):
        headers = self._read_your_writes(request)
        summary = queries.get_summary_for(order_id=int(pk), **self._caller())
        if summary is None:
            raise Http404
        return Response(OrderSummarySerializer(summary).data, headers=headers)

    @extend_schema(request=PlaceOrderSerializer, responses={201: OrderSerializer})
    def create(self, request):
        body = PlaceOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            order = services.place_order(customer_id=self._caller()["user_id"], **body.validated_data)
        except services.InvalidOrder as exc:
            raise serializers.ValidationError(exc.errors)
        return self._written(order, status.HTTP_201_CREATED)

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
        return self._written(order, status.HTTP_200_OK)

    def _written(self, order, code: int) -> Response:
        token = selectors.get_last_event_id(order_id=order.pk)
        return Response(
            OrderSerializer(order).data, status=code, headers={TOKEN_HEADER: token} if token else {}
        )


class ProjectionStatusView(APIView):
    """How far behind the read side is, in events and in seconds (staff)."""

    permission_classes = [IsAuthenticated, IsStaff]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"projections": [queries.projection_lag()]})
