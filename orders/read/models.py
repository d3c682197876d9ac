"""The orders read side (CQRS): a denormalized OrderSummary per order, in its own database
(alias `orders_read`), built only from events by orders/read/projection.py and served by
orders/read/queries.py.

Every row belongs to a *generation*. Reads use the active one; `rebuild_projections` builds the
next generation from the event log while the active one keeps serving, then swaps them in one
transaction. No query here may touch the write database.
"""

from __future__ import annotations

from django.db import models


class ProjectionState(models.Model):
    """One row per projection: which generation serves reads, which one is being rebuilt, and
    how far the projection has got (for freshness headers and lag)."""

    name = models.CharField(primary_key=True, max_length=64)
    active_generation = models.PositiveIntegerField(default=1)
    building_generation = models.PositiveIntegerField(null=True, blank=True)
    events_applied = models.PositiveBigIntegerField(default=0)
    last_event_time = models.DateTimeField(null=True, blank=True)  # `time` of the newest event applied
    last_applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "orders_projectionstate"  # made when the read side was part of the orders app

    def __str__(self) -> str:
        return f"{self.name} (generation {self.active_generation})"


class OrderSummary(models.Model):
    """Everything the API shows about one order, in one row: no joins, no write-side reads.

    Built from facts, not from arrival order: events from different topics may arrive in any
    order, so each event records its fact (`facts`) and a timeline entry, and the statuses are
    derived from the set of facts. A summary whose order_placed has not arrived yet has no
    customer and is invisible to the API until it does.
    """

    generation = models.PositiveIntegerField()
    order_id = models.PositiveBigIntegerField()
    customer_id = models.PositiveBigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True, default="")
    status_reason = models.TextField(blank=True, default="")
    currency = models.CharField(max_length=3, blank=True, default="")
    total = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    shipping_address = models.TextField(blank=True, default="")
    lines = models.JSONField(default=list)  # [{product_id, sku, name, unit_price, quantity, line_total}]
    shipment_id = models.PositiveBigIntegerField(null=True, blank=True)
    shipment_status = models.CharField(max_length=16, blank=True, default="")
    tracking_code = models.CharField(max_length=64, blank=True, default="")
    facts = models.JSONField(default=dict)  # {fact: event time}
    timeline = models.JSONField(default=list)  # [{at, fact, event_id, detail}], ordered by `at`
    placed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "orders_ordersummary"
        verbose_name_plural = "order summaries"
        constraints = [
            models.UniqueConstraint(fields=["generation", "order_id"], name="summary_once_per_generation")
        ]
        # Every list query is "generation = active [AND one filter] ORDER BY placed_at DESC" and
        # reads one page: each has an index that serves it without a sort, at any table size.
        indexes = [
            models.Index(fields=["generation", "-placed_at", "-order_id"], name="summary_recent"),
            models.Index(
                fields=["generation", "customer_id", "-placed_at", "-order_id"], name="summary_customer"
            ),
            models.Index(fields=["generation", "status", "-placed_at", "-order_id"], name="summary_status"),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id}: {self.status or 'not placed yet'}"


# What a summary says about its order (everything but bookkeeping): a rebuilt read side must
# agree with the incrementally built one on exactly these.
SUMMARY_CONTENT = (
    "customer_id",
    "status",
    "status_reason",
    "currency",
    "total",
    "shipping_address",
    "lines",
    "shipment_id",
    "shipment_status",
    "tracking_code",
    "facts",
    "timeline",
    "placed_at",
)


class OrderSummaryProduct(models.Model):
    """Which products an order contains: the index behind "orders with product X"."""

    generation = models.PositiveIntegerField()
    order_id = models.PositiveBigIntegerField()
    product_id = models.PositiveBigIntegerField()
    customer_id = models.PositiveBigIntegerField()
    placed_at = models.DateTimeField()
    # The summary this row belongs to: a join on (generation, order_id), with no column and no
    # constraint of its own. "Orders with product X" is read through it in this table's index
    # order (orders/read/queries.py), so a page costs the same however many orders have the product.
    summary = models.ForeignObject(
        OrderSummary,
        on_delete=models.DO_NOTHING,
        from_fields=["generation", "order_id"],
        to_fields=["generation", "order_id"],
        related_name="product_rows",
        related_query_name="product_row",
    )

    class Meta:
        db_table = "orders_ordersummaryproduct"
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "order_id", "product_id"], name="summary_product_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["generation", "product_id", "-placed_at", "-order_id"], name="summary_by_product"
            ),
            models.Index(
                fields=["generation", "customer_id", "product_id", "-placed_at", "-order_id"],
                name="summary_by_customer_product",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} has product {self.product_id}"
