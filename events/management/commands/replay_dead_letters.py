from typing import Any

from django.core.management import BaseCommand, CommandError, CommandParser

from events.inbox.dead_letters import replay
from events.models import DeadLetter
from events.registry import get_handler
from events.settings import events_settings


class Command(BaseCommand):
    help = "Apply parked dead letters again (each at most once: the inbox still guards it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", action="append", dest="aliases")
        parser.add_argument(
            "--handler", help="only dead letters of this handler, e.g. orders.on_stock_reserved"
        )
        parser.add_argument("--id", type=int, dest="ids", action="append", help="only these dead letter ids")

    def handle(
        self,
        *args: Any,
        aliases: list[str] | None = None,
        handler: str | None = None,
        ids: list[int] | None = None,
        **options: Any,
    ) -> None:
        failed = 0
        for alias in aliases or events_settings.served_databases():
            parked = DeadLetter.objects.using(alias).filter(status=DeadLetter.Status.PARKED)
            if handler:
                parked = parked.filter(handler=handler)
            if ids:
                parked = parked.filter(id__in=ids)
            for dead_letter in parked:
                try:
                    outcome = replay(dead_letter, get_handler(dead_letter.handler))
                    self.stdout.write(
                        f"{alias} #{dead_letter.id} {dead_letter.type} -> {dead_letter.handler}: {outcome}"
                    )
                except Exception as exc:
                    failed += 1
                    first_line = str(exc).splitlines()[0] if str(exc) else repr(exc)
                    self.stderr.write(f"{alias} #{dead_letter.id} still fails: {first_line}")
        if failed:
            raise CommandError(f"{failed} dead letter(s) still fail; they stay parked")
