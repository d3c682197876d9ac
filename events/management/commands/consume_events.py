import signal
import threading

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from events.transports.kafka import KafkaConsumerRuntime


class Command(BaseCommand):
    help = (
        "Consume events from Kafka for one service (one consumer group per service): each record "
        "is applied with its inbox row in one transaction, then its offset is committed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--service", required=True, help="catalog, orders or delivery")

    def handle(self, *args, service, **options):
        if settings.EVENTS["TRANSPORT"] != "kafka":
            raise CommandError(
                "consume_events needs EVENTS_TRANSPORT=kafka (the local transport consumes in-process)"
            )
        if service not in settings.SHOP_SERVICES:
            raise CommandError(
                f"this process does not serve {service!r} (SHOP_SERVICES={settings.SHOP_SERVICES})"
            )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        KafkaConsumerRuntime(service).run(stop)
