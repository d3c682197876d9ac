from django.db import migrations

OLD, NEW = "orders.project_order_summary", "orders_read.project_order_summary"


def rename(old: str, new: str):
    def forwards(apps, schema_editor):
        """The inbox and dead letters name a handler `<app label>.<function>`: the projection's
        rows, written while it belonged to the orders app, take its new name, so an event it
        applied then is still a no-op when redelivered, and a parked one still replays."""
        alias = schema_editor.connection.alias
        for model in ("InboxEntry", "DeadLetter"):
            apps.get_model("events", model).objects.using(alias).filter(handler=old).update(handler=new)

    return forwards


class Migration(migrations.Migration):
    dependencies = [
        ("orders_read", "0001_initial"),
        ("events", "0001_initial"),
    ]

    operations = [migrations.RunPython(rename(OLD, NEW), rename(NEW, OLD), elidable=False)]
