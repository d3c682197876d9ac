"""Orders' write models: orders, their lines, and the product snapshot orders prices from.

No foreign key leaves this database: a line stores `product_id` plus what it was sold at, and
`ProductSnapshot` is orders' own projection of catalog's product events, never catalog's table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2}
# The most an order line may ask for; the event schemas use the same bound.
MAX_QUANTITY = 1000
MAX_LINES = 50
MAX_ADDRESS_LENGTH = 500
# What fits in DecimalField(12, 2) and in the events' money pattern (up to 10 integer digits).
MAX_AMOUNT = Decimal("9999999999.99")


class OrderStatus(models.TextChoices):
    PENDING = "PENDING"  # placed, waiting for catalog to reserve stock
    CONFIRMED = "CONFIRMED"  # stock reserved, waiting for the carrier
    REJECTED = "REJECTED"  # stock could not be reserved
    SHIPPED = "SHIPPED"  # the carrier picked it up
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"  # by the customer, staff or the pending timeout


class Order(models.Model):
    Status = OrderStatus

    customer_id = models.PositiveBigIntegerField()  # the identity service's user id (no FK)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3)
    total = models.DecimalField(**MONEY)
    shipping_address = models.TextField(max_length=MAX_ADDRESS_LENGTH)
    # Why the order was rejected or cancelled; empty otherwise.
    status_reason = models.TextField(blank=True, default="")
    shipment_id = models.PositiveBigIntegerField(null=True, blank=True)
    # NULL, like shipment_id, until delivery created the shipment: "no shipment" is not "".
    tracking_code = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # A default rather than auto_now_add, so tests and imports can place an order in the past.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # Not stored: set by the service that just wrote the order (place_order, cancel_order), so the
    # API answers without reading back what it wrote. The id of the event that write published
    # (the consistency token a read can wait for), and the lines place_order created.
    event_id: str | None = None
    written_lines: list[OrderLine] | None = None

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_known"),
        ]
        indexes = [
            # "My orders, newest first": the customer's list endpoint.
            models.Index(fields=["customer_id", "-created_at"], name="order_customer_recent"),
            # Filtering by status, and the timeout's "PENDING and older than" scan.
            models.Index(fields=["status", "created_at"], name="order_status_created"),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"


class OrderLine(models.Model):
    """One product of an order, with the name and unit price it was sold at."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.PositiveBigIntegerField()
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(**MONEY)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderline_price_not_negative"),
            models.CheckConstraint(
                condition=Q(quantity__gte=1, quantity__lte=MAX_QUANTITY), name="orderline_quantity_in_range"
            ),
            models.UniqueConstraint(fields=["order", "product_id"], name="orderline_product_once"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class ProductSnapshot(models.Model):
    """Orders' projection of a catalog product, kept from catalog's product events.

    Orders prices new lines from here, so placing an order never calls catalog.
    """

    product_id = models.PositiveBigIntegerField(primary_key=True)
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="productsnapshot_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.price} {self.currency}"
