from django.db import migrations


class Migration(migrations.Migration):
    """The read side's models now belong to the orders_read app (orders/read/): forgotten here,
    in state only. Their tables stay where they are, in the orders_read database."""

    dependencies = [
        ("orders", "0003_ordersummaryproduct_summary"),
        ("orders_read", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="ordersummaryproduct", name="summary"),
                migrations.DeleteModel(name="ProjectionState"),
                migrations.DeleteModel(name="OrderSummary"),
                migrations.DeleteModel(name="OrderSummaryProduct"),
            ]
        ),
    ]
