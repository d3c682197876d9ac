"""Cross-app helpers: products are created through catalog's API-facing services so that the
events flow (and orders' snapshot fills) exactly as in production."""

from __future__ import annotations

from decimal import Decimal


def create_product(
    staff_api, *, sku: str, price: str = "10.00", stock: int = 10, name: str | None = None
) -> int:
    """A product created through the API by staff (its events are in catalog's outbox)."""
    response = staff_api.post(
        "/api/catalog/products/",
        {
            "sku": sku,
            "name": name or f"Product {sku}",
            "description": "",
            "price": price,
            "currency": "EUR",
            "stock": stock,
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    return response.data["id"]


def place_order(api, lines: list[tuple[int, int]], address: str = "1 Main St, Springfield"):
    return api.post(
        "/api/orders/",
        {"lines": [{"product_id": p, "quantity": q} for p, q in lines], "shipping_address": address},
        format="json",
    )


def stock_of(product_id: int) -> int:
    from catalog.models import Product

    return Product.objects.get(pk=product_id).stock


def money(value) -> Decimal:
    return Decimal(str(value))
