"""Reads of the catalog for the API."""

from __future__ import annotations

from django.db.models import QuerySet

from catalog.models import Product


def list_products(*, include_inactive: bool = False) -> QuerySet[Product]:
    """Products in their default order (name, then id); only active ones unless asked."""
    products = Product.objects.all()
    return products if include_inactive else products.filter(active=True)
