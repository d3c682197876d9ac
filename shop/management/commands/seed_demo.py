from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import BaseCommand, CommandError, call_command

from events.testing import drain

DEMO_USERS = [
    # (username, email, is_staff): passwords come from --password (dev default below)
    ("admin", "admin@example.com", True),
    ("alice", "alice@example.com", False),
]
DEV_PASSWORD = "demo-pass-123"


class Command(BaseCommand):
    help = "Demo data: a staff user, a customer and a few dozen products with stock. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", default=None, help=f"password for the demo users (dev default: {DEV_PASSWORD})"
        )

    def handle(self, *args, password=None, **options):
        if settings.SHOP_ENV == "prod" and not password:
            raise CommandError(
                "refusing to create demo users with a default password in prod: pass --password"
            )
        password = password or DEV_PASSWORD
        User = get_user_model()
        for username, email, is_staff in DEMO_USERS:
            # Created with its password, in one INSERT: a second save setting it would be a
            # change of the user's rights, announced to every service (shop/identity/rights.py).
            _, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "email": email,
                    "is_staff": is_staff,
                    "is_superuser": is_staff,
                    "password": make_password(password),
                },
            )
            role = "staff" if is_staff else "customer"
            self.stdout.write(f"user {username} ({role}): {'created' if created else 'exists'}")
        call_command("seed_catalog", stdout=self.stdout)
        if settings.EVENTS["TRANSPORT"] == "local":
            # Let orders' product snapshot catch up now, so the first order can be placed at once.
            self.stdout.write(f"relayed {drain()} event(s)")
