from typing import Any

from django.core.management import BaseCommand, CommandParser

from events.transports.kafka.admin import ensure_topics


class Command(BaseCommand):
    help = "Create every event topic and dead letter topic (idempotent). Topics keep their events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partitions", type=int, default=6)
        parser.add_argument("--replication-factor", type=int, default=1)

    def handle(self, *args: Any, partitions: int, replication_factor: int, **options: Any) -> None:
        topics = ensure_topics(partitions=partitions, replication_factor=replication_factor)
        for name, created in topics.items():
            self.stdout.write(f"{'created' if created else 'exists '} {name}")
