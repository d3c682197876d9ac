from rest_framework import serializers

from delivery.models import Shipment, ShipmentStatusChange
from delivery.services import ADVANCE_TARGETS


class ShipmentStatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShipmentStatusChange
        fields = ["status", "at", "note"]
        read_only_fields = fields


class ShipmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Shipment
        fields = [
            "id",
            "order_id",
            "customer_id",
            "status",
            "tracking_code",
            "address",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ShipmentDetailSerializer(ShipmentSerializer):
    history = ShipmentStatusChangeSerializer(many=True, read_only=True)

    class Meta(ShipmentSerializer.Meta):
        fields = [*ShipmentSerializer.Meta.fields, "history"]
        read_only_fields = fields


class AdvanceSerializer(serializers.Serializer):
    # Only statuses a shipment can be advanced to; CREATED/CANCELLED or anything else is bad input
    # (400). Whether the step is legal for this shipment's current status is the service's (409).
    status = serializers.ChoiceField(choices=list(ADVANCE_TARGETS), required=False)
