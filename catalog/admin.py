"""Admin for products and reservations.

Product edits go through the services, so a change made here publishes its events like one made
through the API (orders' price snapshot would drift otherwise). Reservations are a ledger the
saga writes: read-only here.
"""

from __future__ import annotations

from django.contrib import admin

from catalog import services
from catalog.models import Product, ReservationLine, StockReservation
from shop.admin import ReadOnlyAdminMixin

_EDITABLE = ["sku", "name", "description", "price", "currency", "stock", "active"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    # The form validates with the model's rules (catalog/models.py), the messages the API gives.
    fields = _EDITABLE
    list_display = ["sku", "name", "price", "currency", "stock", "active", "updated_at"]
    list_filter = ["active", "currency"]
    search_fields = ["sku", "name"]
    ordering = ["name", "id"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["deactivate"]

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in _EDITABLE if name in form.cleaned_data}
        if change:
            saved = services.update_product(product_id=obj.pk, **values)
        else:
            saved = services.create_product(**values)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None) -> bool:
        # Orders refer to products; take them off sale instead.
        return False

    @admin.action(description="Deactivate selected products")
    def deactivate(self, request, queryset):
        for product in queryset:
            services.deactivate_product(product_id=product.pk)


class ReservationLineInline(admin.TabularInline):
    model = ReservationLine
    fields = ["product", "quantity"]
    readonly_fields = ["product", "quantity"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StockReservation)
class StockReservationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["order_id", "status", "created_at", "released_at"]
    list_filter = ["status"]
    search_fields = ["order_id"]
    readonly_fields = ["order_id", "status", "created_at", "released_at"]
    inlines = [ReservationLineInline]


@admin.register(ReservationLine)
class ReservationLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reservation", "product", "quantity"]
    list_select_related = ["reservation", "product"]
    search_fields = ["reservation__order_id", "product__sku"]
