"""The orders HTTP API: parse, authorize, call a service, serialize.

CQRS: writes (place, cancel) go to the write side and answer from it, in the same shape as a
read, with a consistency token (`X-Consistency-Token`: the event the write produced, signed for
the caller; orders/api/consistency.py). Reads come from the read side only; a read that sends
the token back waits briefly until the read side has applied it — unless the token cannot be
one of the caller's events, which is answered at once.
"""

from __future__ import annotations

import logging

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from events.lag import LagUnknown
from orders import services
from orders.api import consistency
from orders.api.serializers import (
    CancelOrderSerializer,
    OrderListQuerySerializer,
    OrderSerializer,
    PlaceOrderSerializer,
    ProjectionStatusSerializer,
    as_written,
)
from orders.read import queries
from orders.read.projection import projection_state
from shop.api import Conflict, IsStaff, ServiceUnavailable
from shop.inputs import ID_PATH_PATTERN
from shop.pagination import CursorPages

log = logging.getLogger(__name__)

TOKEN_HEADER = consistency.HEADER
CONSISTENCY_PARAMETER = OpenApiParameter(
    TOKEN_HEADER,
    {"type": "string", "pattern": consistency.PATTERN},
    OpenApiParameter.HEADER,
    description="A token from one of your writes: wait (briefly) until the read side reflects it. "
    "A token that is not one of your writes' is answered at once (X-Consistency: unknown).",
)
READ_HEADERS = [
    OpenApiParameter(
        "X-Consistency",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        enum=["applied", "stale", "unknown"],
        description="Only with X-Consistency-Token: applied (the read reflects the write), stale "
        "(it did not within the wait), unknown (not one of your writes' tokens: not waited for).",
    ),
    OpenApiParameter(
        "X-Read-Model-As-Of",
        OpenApiTypes.DATETIME,
        OpenApiParameter.HEADER,
        response=[200],
        description="The time of the newest event the read side has applied.",
    ),
]
WRITE_HEADERS = [
    OpenApiParameter(
        TOKEN_HEADER,
        {"type": "string", "pattern": consistency.PATTERN},
        OpenApiParameter.HEADER,
        response=[200, 201],
        description="Send it back on a read to see this write there.",
    )
]


class NewestFirst(CursorPages):
    """Cursor pages: a page costs the same with 1k or 100k orders (no COUNT, no OFFSET)."""

    ordering = queries.LIST_ORDERING


class OrderViewSet(viewsets.GenericViewSet):
    """A customer's own orders (staff: everyone's). Other customers' orders do not exist (404)."""

    serializer_class = OrderSerializer
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
                event_id = consistency.event_of(token, user_id=self._caller()["user_id"])
            except consistency.MalformedToken:
                raise serializers.ValidationError({TOKEN_HEADER: ["Must be a token returned by a write."]})
            if event_id is None:  # made up, or someone else's: nothing this caller could wait for
                headers["X-Consistency"] = "unknown"
            else:
                headers["X-Consistency"] = "applied" if queries.wait_for_event(event_id) else "stale"
        as_of = projection_state().last_event_time
        if as_of:
            headers["X-Read-Model-As-Of"] = as_of.isoformat()
        return headers

    @extend_schema(
        summary="List orders (own; staff: all)",
        description="Newest first, from the read side, in cursor pages (`next`/`previous` links).",
        parameters=[OrderListQuerySerializer, CONSISTENCY_PARAMETER, *READ_HEADERS],
    )
    def list(self, request):
        # An empty parameter is one not given, as on every list (django-filter's rule).
        query = OrderListQuerySerializer(data={k: v for k, v in request.query_params.items() if v})
        query.is_valid(raise_exception=True)
        headers = self._read_your_writes(request)
        page = self.paginate_queryset(queries.list_summaries_for(**self._caller(), **query.validated_data))
        response = self.get_paginated_response(OrderSerializer(page, many=True).data)
        for name, value in headers.items():
            response[name] = value
        return response

    @extend_schema(
        summary="Get an order",
        description="From the read side. Another customer's order is a 404.",
        parameters=[CONSISTENCY_PARAMETER, *READ_HEADERS],
    )
    def retrieve(self, request, pk=None):
        headers = self._read_your_writes(request)
        summary = queries.get_summary_for(order_id=int(pk), **self._caller())
        if summary is None:
            raise Http404
        return Response(OrderSerializer(summary).data, headers=headers)

    @extend_schema(
        summary="Place an order",
        description="Priced from orders' own product snapshot; PENDING until catalog reserves the "
        "stock. Publishes order_placed. Answers in the shape of a read, with X-Consistency-Token.",
        request=PlaceOrderSerializer,
        responses={201: OrderSerializer},
        parameters=WRITE_HEADERS,
    )
    def create(self, request):
        body = PlaceOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            order = services.place_order(customer_id=self._caller()["user_id"], **body.validated_data)
        except services.InvalidOrder as exc:
            raise serializers.ValidationError(exc.errors)
        return self._written(order, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel an order",
        description="Before it is picked up. Publishes order_cancelled: catalog releases the stock, "
        "delivery cancels the shipment. Answers in the shape of a read, with X-Consistency-Token.",
        request=CancelOrderSerializer,
        responses={
            200: OrderSerializer,
            409: OpenApiResponse(description="Not cancellable any more (shipped...): `detail` says why."),
        },
        parameters=WRITE_HEADERS,
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
        # The service tells which event the write published: the token the client may wait for.
        headers = {TOKEN_HEADER: consistency.issue(order.event_id, user_id=self._caller()["user_id"])}
        return Response(OrderSerializer.represent(as_written(order)), status=code, headers=headers)


class ProjectionStatusView(APIView):
    """How far behind the read side is, in events and in seconds (staff)."""

    permission_classes = [IsAuthenticated, IsStaff]

    @extend_schema(
        summary="Read-side lag (staff)",
        responses={
            200: ProjectionStatusSerializer,
            503: OpenApiResponse(description="The broker did not answer: the lag is unknown for now."),
        },
    )
    def get(self, request):
        try:
            return Response({"projections": [queries.projection_lag()]})
        except LagUnknown:
            log.warning("projection lag unknown", exc_info=True)
            raise ServiceUnavailable("The broker did not answer: the read side's lag is unknown for now.")
