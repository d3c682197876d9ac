"""Admin for shipments: read-only on purpose. A status change must go through the services,
which record the history and publish the event orders (and the read side) rely on; the admin's
one write is the staff API's "advance", through the same service."""

from django.contrib import admin

from delivery import services
from delivery.models import Shipment, ShipmentStatusChange
from shop.admin import CustomerColumnMixin, ReadOnlyAdminMixin, act_on_each


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
        act_on_each(
            self,
            request,
            queryset,
            lambda pk: services.advance_shipment(shipment_id=pk),
            refusal=services.DeliveryError,
            done="{} shipment(s) advanced.",
            name="shipment",
        )


@admin.register(ShipmentStatusChange)
class ShipmentStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["shipment", "status", "at", "note"]
    list_filter = ["status"]
    search_fields = ["shipment__tracking_code", "=shipment__order_id"]
    ordering = ["-at", "-id"]
    list_select_related = ["shipment"]
