from datetime import timedelta

from django.conf import settings
from django.db import migrations, models


def schedule_moving_shipments(apps, schema_editor):
    """Shipments that were moving by themselves before the due time existed get one: their last
    change plus one step. Those a crash had stranded are then re-driven by the sweep; those staff
    moved by hand (a history note of "") stay with staff."""
    Shipment = apps.get_model("delivery", "Shipment")
    alias = schema_editor.connection.alias
    step = timedelta(seconds=settings.DELIVERY_STEP_SECONDS)
    moving = Shipment.objects.using(alias).filter(status__in=["CREATED", "PICKED_UP", "IN_TRANSIT"])
    for shipment in moving.iterator():
        last = shipment.history.using(alias).order_by("-at", "-id").first()
        if last is None or last.note:
            shipment.next_step_due_at = shipment.updated_at + step
            shipment.save(update_fields=["next_step_due_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="shipment",
            name="next_step_due_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                condition=models.Q(("next_step_due_at__isnull", False)),
                fields=["next_step_due_at"],
                name="shipment_next_step_due",
            ),
        ),
        migrations.RunPython(schedule_moving_shipments, migrations.RunPython.noop),
    ]
