from django.conf import settings
from django.core.management import BaseCommand

from events.schemas import event_types, topic_for
from events.transports.kafka import DEAD_LETTER_TOPIC, kafka_name
from shop import topology


class Command(BaseCommand):
    help = "Create every event topic and dead letter topic (idempotent). Topics keep their events."

    def add_arguments(self, parser):
        parser.add_argument("--partitions", type=int, default=6)
        parser.add_argument("--replication-factor", type=int, default=1)

    def handle(self, *args, partitions, replication_factor, **options):
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic

        wanted = sorted({kafka_name(topic_for(t)) for t in event_types()})
        wanted += [kafka_name(DEAD_LETTER_TOPIC.format(service=s)) for s in topology.SERVICES]
        admin = KafkaAdminClient(
            bootstrap_servers=settings.EVENTS["KAFKA_BOOTSTRAP_SERVERS"], client_id="shop-ensure-topics"
        )
        try:
            existing = set(admin.list_topics())
            # retention.ms=-1: the event log is the source for rebuilding projections.
            new = [
                NewTopic(name, partitions, replication_factor, topic_configs={"retention.ms": "-1"})
                for name in wanted
                if name not in existing
            ]
            if new:
                admin.create_topics(new)
            for name in wanted:
                self.stdout.write(f"{'created' if name not in existing else 'exists '} {name}")
        finally:
            admin.close()
