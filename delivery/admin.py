"""Admin for shipments. Status is read-only here on purpose: a status change must go through the
services, which record the history and publish the event other services rely on."""

from django.contrib import admin

from delivery.models import Shipment, ShipmentStatusChange


class ShipmentStatusChangeInline(admin.TabularInline):
    model = ShipmentStatusChange
    fields = ["status", "at", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["tracking_code", "order_id", "customer_id", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["tracking_code", "=order_id", "=customer_id"]
    readonly_fields = ["order_id", "customer_id", "status", "tracking_code", "created_at", "updated_at"]
    inlines = [ShipmentStatusChangeInline]
    date_hierarchy = "created_at"


@admin.register(ShipmentStatusChange)
class ShipmentStatusChangeAdmin(admin.ModelAdmin):
    list_display = ["shipment", "status", "at", "note"]
    list_filter = ["status"]
    search_fields = ["shipment__tracking_code", "=shipment__order_id"]
    readonly_fields = ["shipment", "status", "at"]
    list_select_related = ["shipment"]
