"""Shapes of the orders API: what a request may contain, and how an order is shown.

Input serializers check types and bounds only; business rules (known, active products, one
currency, prices) live in services.place_order, whose errors come back in the same shape.
"""

from __future__ import annotations

from rest_framework import serializers

from orders.models import MAX_ADDRESS_LENGTH, MAX_LINES, MAX_QUANTITY, Order, OrderLine
from orders.read.models import OrderSummary
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


class OrderLineSerializer(serializers.ModelSerializer):
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)

    class Meta:
        model = OrderLine
        fields = ["product_id", "sku", "name", "unit_price", "quantity", "line_total"]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "customer_id",
            "status",
            "status_reason",
            "currency",
            "total",
            "shipping_address",
            "shipment_id",
            "tracking_code",
            "lines",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderSummarySerializer(serializers.ModelSerializer):
    """An order as the read side shows it: the write side's fields plus shipment status and a
    timeline of what happened, all from one row."""

    id = serializers.IntegerField(source="order_id", read_only=True)
    created_at = serializers.DateTimeField(source="placed_at", read_only=True)
    tracking_code = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = OrderSummary
        fields = [
            "id",
            "customer_id",
            "status",
            "status_reason",
            "currency",
            "total",
            "shipping_address",
            "shipment_id",
            "shipment_status",
            "tracking_code",
            "lines",
            "timeline",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["tracking_code"] = data["tracking_code"] or None
        return data


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
