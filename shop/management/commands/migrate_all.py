from django.conf import settings
from django.core.management import BaseCommand, call_command


class Command(BaseCommand):
    help = "Migrate every database this process serves (each app's tables land only in its own)."

    def handle(self, *args, **options):
        for alias in settings.SERVED_ALIASES:
            self.stdout.write(f"== {alias}")
            call_command("migrate", database=alias, interactive=False, verbosity=options["verbosity"])
