"""Products and the stock reserved for orders.

The invariants that must hold under any concurrency (no negative price, no negative stock, one
reservation per order, positive reserved quantities) are database constraints, not Python checks.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

# Limits shared by the services and the API (the event schemas allow more; these are policy).
MAX_PRICE = Decimal("1000000.00")
MAX_STOCK = 1_000_000
SKU_MAX_LENGTH = 64  # as in the product event schemas
NAME_MAX_LENGTH = 200
DEFAULT_CURRENCY = "EUR"

# A product's field rules, each with its message, written once: on the model's fields below.
# The services validate with them (full_clean()), the admin's form gets them from the model, and
# the API's serializer takes these same validators.
SKU_RULE = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z",
    "Use only letters, digits, '.', '_' and '-', starting with a letter or digit.",
)
CURRENCY_RULE = RegexValidator(r"\A[A-Z]{3}\Z", "Use a 3-letter ISO 4217 code in capitals, e.g. EUR.")


class Product(models.Model):
    """Something for sale. `stock` is what can still be reserved (reserved units are not in it)."""

    sku = models.CharField(max_length=SKU_MAX_LENGTH, unique=True, validators=[SKU_RULE])
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0), MaxValueValidator(MAX_PRICE)]
    )
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY, validators=[CURRENCY_RULE])
    stock = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(MAX_STOCK)])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="catalog_product_price_not_negative"),
            # PositiveIntegerField already checks this on most backends; named, it is explicit and
            # is what makes a racing decrement fail instead of overselling.
            models.CheckConstraint(condition=Q(stock__gte=0), name="catalog_product_stock_not_negative"),
        ]
        indexes = [
            # The public list: active products ordered by name (the default) or by price.
            models.Index(fields=["active", "name", "id"], name="catalog_product_active_name"),
            models.Index(fields=["active", "price"], name="catalog_product_active_price"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class StockReservationStatus(models.TextChoices):
    RESERVED = "RESERVED"
    RELEASED = "RELEASED"


class StockReservation(models.Model):
    """The stock taken for one order; remembers what to give back if the order is cancelled.

    Only successful reservations are recorded. `order_id` is unique, so an order can never hold
    two reservations however often its order_placed event is delivered.
    """

    Status = StockReservationStatus

    order_id = models.PositiveBigIntegerField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RESERVED)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["RESERVED", "RELEASED"]), name="catalog_reservation_status_valid"
            ),
            # released_at is set exactly when the reservation was released.
            models.CheckConstraint(
                condition=(
                    Q(status="RESERVED", released_at__isnull=True)
                    | Q(status="RELEASED", released_at__isnull=False)
                ),
                name="catalog_reservation_released_at_iff_released",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} ({self.status})"


class ReservationLine(models.Model):
    """One line of an order as reserved: `quantity` units of `product` taken from its stock."""

    reservation = models.ForeignKey(StockReservation, on_delete=models.CASCADE, related_name="lines")
    # PROTECT: a product that stock was reserved from is deactivated, never deleted.
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reservation_lines")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="catalog_reservation_line_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id}"
