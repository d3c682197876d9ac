import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """A join path from a product row to its summary (ForeignObject: no column, no constraint),
    and the index behind a customer's own orders with a product."""

    dependencies = [
        ("orders", "0002_projectionstate_ordersummary_ordersummaryproduct"),
    ]

    # State only: the field has no column (and SQLite's schema editor would otherwise rebuild the
    # table for it); the index is orders_read's since the read side moved there (see 0002).
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="ordersummaryproduct",
                    name="summary",
                    field=models.ForeignObject(
                        from_fields=["generation", "order_id"],
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="product_rows",
                        related_query_name="product_row",
                        to="orders.ordersummary",
                        to_fields=["generation", "order_id"],
                    ),
                ),
                migrations.AddIndex(
                    model_name="ordersummaryproduct",
                    index=models.Index(
                        fields=["generation", "customer_id", "product_id", "-placed_at", "-order_id"],
                        name="summary_by_customer_product",
                    ),
                ),
            ]
        ),
    ]
