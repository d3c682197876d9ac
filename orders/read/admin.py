"""The read side in the admin: read only, since the projection is its only writer."""

from __future__ import annotations

from django.contrib import admin

from orders.read.models import OrderSummary, ProjectionState
from shop.admin import CustomerColumnMixin, ReadOnlyAdminMixin


@admin.register(OrderSummary)
class OrderSummaryAdmin(CustomerColumnMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["order_id", "generation", "customer", "status", "shipment_status", "total", "placed_at"]
    ordering = ["-generation", "-placed_at", "-order_id"]
    list_filter = ["generation", "status", "shipment_status"]
    search_fields = ["=order_id", "=customer_id", "tracking_code"]


@admin.register(ProjectionState)
class ProjectionStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "active_generation", "building_generation", "events_applied", "last_event_time"]
