"""Shapes of the orders API: what a request may contain, and how an order is shown.

Input serializers check types and bounds only; business rules (known, active products, one
currency, prices) live in services.place_order, whose errors come back in the same shape.
"""

from __future__ import annotations

import functools
from typing import Any

from rest_framework import serializers

from orders.models import MAX_ADDRESS_LENGTH, MAX_LINES, MAX_QUANTITY, MONEY, Order, OrderStatus
from orders.read.projection import FACTS, SHIPMENT_STATUS
from shop.inputs import IdField, QueryIdField, StrictCharField, StrictIntegerField


class OrderLineInputSerializer(serializers.Serializer):
    product_id = IdField()
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class PlaceOrderSerializer(serializers.Serializer):
    """Body of POST /api/orders/. Anything else in it (a customer id, a price) is ignored. The
    rules between lines (each product once, known and active products, one currency) are the
    service's, whose InvalidOrder comes back in this same shape."""

    lines = OrderLineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
    shipping_address = StrictCharField(max_length=MAX_ADDRESS_LENGTH)


class CancelOrderSerializer(serializers.Serializer):
    """Body of POST /api/orders/{id}/cancel/ (optional)."""

    reason = StrictCharField(max_length=MAX_ADDRESS_LENGTH, required=False, allow_blank=True)


class OrderLineSerializer(serializers.Serializer):
    """One line of an order, with the name and unit price it was sold at."""

    product_id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(**MONEY)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    line_total = serializers.DecimalField(**MONEY)


class TimelineEntrySerializer(serializers.Serializer):
    """Something that happened to the order, as an event told the read side."""

    at = serializers.DateTimeField(help_text="When it happened (the event's time).")
    fact = serializers.ChoiceField(choices=sorted(set(FACTS.values())))
    event_id = serializers.UUIDField()
    detail = serializers.CharField(allow_blank=True, help_text="A reason or a tracking code, if any.")


class OrderSerializer(serializers.Serializer):
    """An order as every endpoint shows it: read (from the read side), placed or cancelled (from
    the write side) — one shape. What a write cannot know yet is empty: `shipment_status` is
    null and `timeline` is [] until the read side has applied the write's events (send the
    write's X-Consistency-Token with the next read to get them)."""

    id = serializers.IntegerField(source="order_id")
    customer_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    status_reason = serializers.CharField(allow_blank=True, help_text="Why it was rejected or cancelled.")
    currency = serializers.CharField()
    total = serializers.DecimalField(**MONEY)
    shipping_address = serializers.CharField()
    shipment_id = serializers.IntegerField(allow_null=True)
    shipment_status = serializers.ChoiceField(
        choices=[status for _, status in SHIPMENT_STATUS], allow_null=True, help_text="null until known."
    )
    tracking_code = serializers.CharField(allow_null=True)
    lines = OrderLineSerializer(many=True)
    timeline = TimelineEntrySerializer(many=True)
    created_at = serializers.DateTimeField(source="placed_at")
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # The read side stores "not yet known" as "" in these columns.
        data["shipment_status"] = data["shipment_status"] or None
        data["tracking_code"] = data["tracking_code"] or None
        return data

    @classmethod
    def represent(cls, instance) -> dict[str, Any]:
        """`OrderSerializer(instance).data`, from fields built once per process. DRF builds a
        serializer's fields (a deep copy of the declared ones, nested serializers included) for
        every instance: for one order that cost several times the representation itself. These
        fields keep no per-request state, so one set serves every response."""
        return _order_serializer().to_representation(instance)


@functools.cache
def _order_serializer() -> OrderSerializer:
    return OrderSerializer()


def as_written(order: Order) -> dict[str, Any]:
    """A write-side order in the attributes OrderSerializer reads (those of an OrderSummary).
    The lines the service just wrote, if it handed them over; else they are read."""
    return {
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "status": order.status,
        "status_reason": order.status_reason,
        "currency": order.currency,
        "total": order.total,
        "shipping_address": order.shipping_address,
        "shipment_id": order.shipment_id,
        "shipment_status": None,
        "tracking_code": order.tracking_code,
        "lines": [
            {
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "line_total": line.line_total,
            }
            for line in getattr(order, "written_lines", None) or order.lines.all()
        ],
        "timeline": [],
        "placed_at": order.created_at,
        "updated_at": order.updated_at,
    }


class ProjectionLagSerializer(serializers.Serializer):
    """How far behind one projection is."""

    name = serializers.CharField()
    lag_events = serializers.IntegerField(help_text="Events published but not applied yet.")
    lag_seconds = serializers.FloatField(help_text="Age of the oldest of them.")
    events_applied = serializers.IntegerField()
    last_event_time = serializers.DateTimeField(allow_null=True)
    last_applied_at = serializers.DateTimeField(allow_null=True)
    active_generation = serializers.IntegerField()
    building_generation = serializers.IntegerField(allow_null=True, help_text="Set while a rebuild runs.")


class ProjectionStatusSerializer(serializers.Serializer):
    projections = ProjectionLagSerializer(many=True)


class OrderListQuerySerializer(serializers.Serializer):
    """Query parameters of GET /api/orders/: every filter is served by an index."""

    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    placed_after = serializers.DateTimeField(required=False)
    placed_before = serializers.DateTimeField(required=False)
    product = QueryIdField(required=False)

    def validate(self, attrs):
        after, before = attrs.get("placed_after"), attrs.get("placed_before")
        if after and before and after >= before:
            raise serializers.ValidationError({"placed_before": ["Must be later than placed_after."]})
        return attrs
