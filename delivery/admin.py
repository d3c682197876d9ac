"""Admin for shipments: read-only on purpose. A status change must go through the services,
which record the history and publish the event orders (and the read side) rely on; the admin's
one write is the staff API's "advance", through the same service."""

from django.contrib import admin, messages

from delivery import services
from delivery.models import Shipment, ShipmentStatusChange
from shop.admin import CustomerColumnMixin, ReadOnlyAdminMixin


class ShipmentStatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ShipmentStatusChange
    fields = ["status", "at", "note"]
    readonly_fields = fields
    extra = 0


@admin.register(Shipment)
class ShipmentAdmin(CustomerColumnMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["tracking_code", "order_id", "customer", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["tracking_code", "=order_id", "=customer_id"]
    ordering = ["-created_at", "-id"]
    inlines = [ShipmentStatusChangeInline]
    date_hierarchy = "created_at"
    actions = ["advance"]

    @admin.action(description="Advance selected shipments one step (publishes the step's event)")
    def advance(self, request, queryset):
        advanced = 0
        for shipment_id in queryset.values_list("pk", flat=True):
            try:
                services.advance_shipment(shipment_id=shipment_id)
                advanced += 1
            except services.DeliveryError as exc:
                self.message_user(request, f"shipment {shipment_id}: {exc}", messages.WARNING)
        self.message_user(request, f"{advanced} shipment(s) advanced.", messages.SUCCESS)


@admin.register(ShipmentStatusChange)
class ShipmentStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["shipment", "status", "at", "note"]
    list_filter = ["status"]
    search_fields = ["shipment__tracking_code", "=shipment__order_id"]
    ordering = ["-at", "-id"]
    list_select_related = ["shipment"]
