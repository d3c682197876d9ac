"""One account per username and per email address, both compared case-insensitively — enforced
by the database, so it holds when sign-ups race (a "does it exist?" check cannot).

django.contrib.auth's User is not ours to add constraints to, and swapping AUTH_USER_MODEL under
existing data is a migration of its own; unique indexes on LOWER(...) of its table give the same
guarantee. The SQL is the same on Postgres and SQLite (expression and partial indexes).
"""

from django.db import migrations

INDEXES = {
    "identity_username_ci_uniq": "ON auth_user (LOWER(username))",
    # Accounts without an email (createsuperuser allows it) do not collide with each other.
    "identity_email_ci_uniq": "ON auth_user (LOWER(email)) WHERE email <> ''",
}


def refuse_existing_duplicates(apps, schema_editor):
    """Name the accounts that already collide, instead of failing on CREATE UNIQUE INDEX."""
    from django.db.models import Count
    from django.db.models.functions import Lower

    User = apps.get_model("auth", "User")
    users = User.objects.using(schema_editor.connection.alias)
    clashes = []
    for field in ("username", "email"):
        rows = (
            users.exclude(**{field: ""})
            .annotate(key=Lower(field))
            .values("key")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        clashes += [f"{field} {row['key']!r} ({row['n']} accounts)" for row in rows]
    if clashes:
        raise RuntimeError(
            "accounts differ only in the case of their username or email; merge or rename them "
            "first: " + "; ".join(clashes)
        )


def lowercase_emails(apps, schema_editor):
    """Emails are stored in lower case from now on (services.normalize_email)."""
    from django.db.models.functions import Lower

    User = apps.get_model("auth", "User")
    User.objects.using(schema_editor.connection.alias).update(email=Lower("email"))


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunPython(refuse_existing_duplicates, migrations.RunPython.noop),
        migrations.RunPython(lowercase_emails, migrations.RunPython.noop),
        *(
            migrations.RunSQL(
                f"CREATE UNIQUE INDEX {name} {definition}",
                f"DROP INDEX IF EXISTS {name}",
            )
            for name, definition in INDEXES.items()
        ),
    ]
