"""Query parameters of the product list. An invalid value is a 400, never silently ignored."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from catalog.models import Product
from shop.inputs import MoneyFilter

_BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


def _is_true(value: str) -> bool:
    return value == "true"


class _ProductFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("min_price", "min_price may not be greater than max_price.")
        return cleaned


class StableOrderingFilter(django_filters.OrderingFilter):
    """django-filter's ordering, with the id as a tie-breaker so pages never overlap."""

    def filter(self, qs: QuerySet, value):
        qs = super().filter(qs, value)
        if value:
            qs = qs.order_by(*qs.query.order_by, "id")
        return qs


class ProductFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", max_length=100, help_text="Part of the name or SKU (case-insensitive)."
    )
    min_price = MoneyFilter(field_name="price", lookup_expr="gte", help_text="Lowest price, inclusive.")
    max_price = MoneyFilter(field_name="price", lookup_expr="lte", help_text="Highest price, inclusive.")
    in_stock = django_filters.TypedChoiceFilter(
        choices=_BOOLEAN_CHOICES,
        coerce=_is_true,
        method="filter_in_stock",
        help_text="true: only products with stock; false: only sold-out ones.",
    )
    active = django_filters.TypedChoiceFilter(
        choices=_BOOLEAN_CHOICES,
        coerce=_is_true,
        field_name="active",
        help_text="Staff: filter by active flag (others only ever see active products).",
    )
    ordering = StableOrderingFilter(
        fields=("price", "name", "created_at"),
        help_text="price, -price, name, -name, created_at, -created_at",
    )

    class Meta:
        model = Product
        fields = ["search", "min_price", "max_price", "in_stock", "active"]
        form = _ProductFilterForm

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(sku__icontains=value))

    def filter_in_stock(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(stock__gt=0) if value else queryset.filter(stock=0)
