"""Admin for orders. Orders and snapshots change only through services and events (so every
change is announced); the admin shows them and cancels through the same service."""

from __future__ import annotations

from django.contrib import admin

from orders import services
from orders.models import Order, OrderLine, ProductSnapshot
from shop.admin import CustomerColumnMixin, ReadOnlyAdminMixin, act_on_each


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["product_id", "sku", "name", "unit_price", "quantity"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(CustomerColumnMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "customer", "status", "total", "currency", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["=id", "=customer_id", "tracking_code"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
    actions = ["cancel_orders"]

    @admin.action(description="Cancel selected orders (publishes order_cancelled)")
    def cancel_orders(self, request, queryset):
        act_on_each(
            self,
            request,
            queryset,
            lambda pk: services.cancel_order(order_id=pk, reason="cancelled by staff"),
            refusal=services.OrderError,
            done="{} order(s) cancelled.",
        )


@admin.register(ProductSnapshot)
class ProductSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["product_id", "sku", "name", "price", "currency", "active", "updated_at"]
    list_filter = ["active", "currency"]
    search_fields = ["=product_id", "sku", "name"]


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["order", "product_id", "sku", "name", "unit_price", "quantity"]
    search_fields = ["=order__id", "=product_id", "sku"]
