import time

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from events.drain import Drain, Figures
from events.history import consumer_groups
from shop.topology import SERVICES


class Command(BaseCommand):
    help = (
        "Before moving a service: wait until its outboxes have nothing pending and its consumer "
        "groups have consumed everything published before the drain began, printing the figures "
        "while waiting. Exit status 1 if that takes longer than --timeout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--service", required=True, help=", ".join(SERVICES))
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between looks")

    def handle(self, *args, service, timeout, interval, **options):
        if service not in SERVICES:
            raise CommandError(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
        if service not in settings.SHOP_SERVICES:
            raise CommandError(
                f"this process does not serve {service!r} "
                f"(SHOP_SERVICES={','.join(settings.SHOP_SERVICES)}): run drain where its databases are"
            )
        if timeout < 0 or interval <= 0:
            raise CommandError("--timeout must be >= 0 and --interval > 0")
        kafka = settings.EVENTS["TRANSPORT"] == "kafka"
        drain = Drain(list(SERVICES[service].aliases), consumer_groups([service]) if kafka else None)
        started = time.monotonic()
        self.stdout.write(
            f"draining {service}: outboxes {', '.join(drain.aliases)}"
            + (
                f"; consumer groups {', '.join(drain.groups)} up to the end of their topics now"
                if kafka
                else ""
            )
        )
        while True:
            figures = drain.figures()
            elapsed = time.monotonic() - started
            self.stdout.write(f"  {elapsed:5.1f} s  {self._describe(figures)}")
            if figures.drained:
                self.stdout.write(self.style.SUCCESS(f"{service} drained in {elapsed:.1f} s"))
                return
            if elapsed >= timeout:
                raise CommandError(
                    f"{service} not drained after {timeout:g} s: {self._describe(figures)}", returncode=1
                )
            time.sleep(interval)

    @staticmethod
    def _describe(figures: Figures) -> str:
        parts = []
        for alias, pending in figures.pending.items():
            age = figures.oldest[alias]
            parts.append(f"{alias} outbox {pending} pending" + (f" (oldest {age:.1f} s)" if age else ""))
        parts += [f"{group} {behind} behind" for group, behind in figures.behind.items()]
        return "; ".join(parts)
