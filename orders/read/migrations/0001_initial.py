import django.db.models.deletion
from django.db import migrations, models

READ_SIDE = ("ProjectionState", "OrderSummary", "OrderSummaryProduct")


def create_or_adopt_tables(apps, schema_editor):
    """Create the read side's tables, unless this database already has them: until the read side
    became an app of its own, the orders app's migrations 0002-0003 made these very tables (same
    names, columns, indexes and constraints) in this database. Those are kept, rows and all."""
    existing = set(schema_editor.connection.introspection.table_names())
    for name in READ_SIDE:
        model = apps.get_model("orders_read", name)
        if model._meta.db_table not in existing:
            schema_editor.create_model(model)


class Migration(migrations.Migration):
    """The read side's models, moved here from the orders app with their table names."""

    initial = True

    dependencies = [
        # The tables an existing database has were made by these.
        ("orders", "0003_ordersummaryproduct_summary"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ProjectionState',
                    fields=[
                        ('name', models.CharField(max_length=64, primary_key=True, serialize=False)),
                        ('active_generation', models.PositiveIntegerField(default=1)),
                        ('building_generation', models.PositiveIntegerField(blank=True, null=True)),
                        ('events_applied', models.PositiveBigIntegerField(default=0)),
                        ('last_event_time', models.DateTimeField(blank=True, null=True)),
                        ('last_applied_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'orders_projectionstate',
                    },
                ),
                migrations.CreateModel(
                    name='OrderSummary',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('generation', models.PositiveIntegerField()),
                        ('order_id', models.PositiveBigIntegerField()),
                        ('customer_id', models.PositiveBigIntegerField(blank=True, null=True)),
                        ('status', models.CharField(blank=True, default='', max_length=16)),
                        ('status_reason', models.TextField(blank=True, default='')),
                        ('currency', models.CharField(blank=True, default='', max_length=3)),
                        ('total', models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True)),
                        ('shipping_address', models.TextField(blank=True, default='')),
                        ('lines', models.JSONField(default=list)),
                        ('shipment_id', models.PositiveBigIntegerField(blank=True, null=True)),
                        ('shipment_status', models.CharField(blank=True, default='', max_length=16)),
                        ('tracking_code', models.CharField(blank=True, default='', max_length=64)),
                        ('facts', models.JSONField(default=dict)),
                        ('timeline', models.JSONField(default=list)),
                        ('placed_at', models.DateTimeField(blank=True, null=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'orders_ordersummary',
                        'indexes': [models.Index(fields=['generation', '-placed_at', '-order_id'], name='summary_recent'), models.Index(fields=['generation', 'customer_id', '-placed_at', '-order_id'], name='summary_customer'), models.Index(fields=['generation', 'status', '-placed_at', '-order_id'], name='summary_status')],
                        'constraints': [models.UniqueConstraint(fields=('generation', 'order_id'), name='summary_once_per_generation')],
                    },
                ),
                migrations.CreateModel(
                    name='OrderSummaryProduct',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('generation', models.PositiveIntegerField()),
                        ('order_id', models.PositiveBigIntegerField()),
                        ('product_id', models.PositiveBigIntegerField()),
                        ('customer_id', models.PositiveBigIntegerField()),
                        ('placed_at', models.DateTimeField()),
                        ('summary', models.ForeignObject(from_fields=['generation', 'order_id'], on_delete=django.db.models.deletion.DO_NOTHING, related_name='product_rows', related_query_name='product_row', to='orders_read.ordersummary', to_fields=['generation', 'order_id'])),
                    ],
                    options={
                        'db_table': 'orders_ordersummaryproduct',
                        'indexes': [models.Index(fields=['generation', 'product_id', '-placed_at', '-order_id'], name='summary_by_product'), models.Index(fields=['generation', 'customer_id', 'product_id', '-placed_at', '-order_id'], name='summary_by_customer_product')],
                        'constraints': [models.UniqueConstraint(fields=('generation', 'order_id', 'product_id'), name='summary_product_once')],
                    },
                ),
            ]
        ),
        # Back before the move, the orders app's state owns these same tables: they stay.
        migrations.RunPython(create_or_adopt_tables, migrations.RunPython.noop, elidable=False),
    ]
