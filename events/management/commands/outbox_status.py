from typing import Any

from django.core.management import BaseCommand

from events.models import DeadLetter
from events.outbox.relay import backlog
from events.settings import events_settings


class Command(BaseCommand):
    help = "Per database: unpublished outbox rows, age of the oldest, parked dead letters."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{'database':<14}{'pending':>9}{'oldest (s)':>12}{'dead letters':>14}")
        for alias in events_settings.served_databases():
            pending, age = backlog(alias)
            parked = DeadLetter.objects.using(alias).filter(status=DeadLetter.Status.PARKED).count()
            self.stdout.write(
                f"{alias:<14}{pending:>9}{(f'{age:.1f}' if age is not None else '-'):>12}{parked:>14}"
            )
