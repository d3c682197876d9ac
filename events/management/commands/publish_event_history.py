from typing import Any

from django.core.management import BaseCommand, CommandError

from events.history import HistoryRefused, publish_history
from events.settings import events_settings
from events.transports import get_transport


class Command(BaseCommand):
    help = (
        "Moving from the monolith's local transport to Kafka (shape 1 -> 2): send the events it "
        "already dispatched (published outbox rows) to the topics, so they stay the log that "
        "rebuild_projections reads, then commit every consumer group at the end of that history, "
        "so no consumer applies it again. Pending rows are left for the relay. Run it once, after "
        "copying the databases and ensure_topics, before starting any relay or consumer."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if events_settings.TRANSPORT != "kafka":
            raise CommandError(
                "publish_event_history moves the history onto Kafka: set EVENTS_TRANSPORT=kafka"
            )
        transport = get_transport()
        try:
            result = publish_history(
                events_settings.served_databases(), events_settings.served_services(), transport
            )
        except HistoryRefused as exc:
            raise CommandError(f"refused: {exc}")
        finally:
            transport.close()
        self.stdout.write(f"{'database':<14}{'history sent':>14}{'pending (relay)':>17}")
        for alias, sent in result.events.items():
            self.stdout.write(f"{alias:<14}{sent:>14,}{result.pending[alias]:>17,}")
        for group, offset in result.groups.items():
            self.stdout.write(f"consumer group {group} committed at the end of the history ({offset:,})")
        self.stdout.write(
            self.style.SUCCESS(
                f"{sum(result.events.values()):,} events of history on Kafka; "
                f"{sum(result.pending.values()):,} pending for the relay"
            )
        )
