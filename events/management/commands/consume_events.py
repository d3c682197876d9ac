import signal
import threading
from typing import Any

from django.core.management import BaseCommand, CommandError, CommandParser

from events import heartbeat, metrics
from events.heap import freeze_startup_heap
from events.registry import all_handlers
from events.settings import events_settings
from events.transports.kafka.consumer import KafkaConsumerRuntime, consumer_group


class Command(BaseCommand):
    help = (
        "Consume events from Kafka for one service: one consumer group per service database "
        "(e.g. shop.orders for the saga, shop.orders.orders_read for the read side), each in its "
        "own thread. Each record is applied with its inbox row in one transaction, then its offset "
        "is committed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--service", required=True, help="catalog, orders or delivery")
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            help="consume only for this database of the service (repeatable): e.g. "
            "--database orders_read runs the read side in a process of its own",
        )

    def handle(self, *args: Any, service: str, databases: list[str] | None = None, **options: Any) -> None:
        if events_settings.TRANSPORT != "kafka":
            raise CommandError(
                "consume_events needs EVENTS_TRANSPORT=kafka (the local transport consumes in-process)"
            )
        served = events_settings.served_services()
        if service not in served:
            raise CommandError(f"this process does not serve {service!r} (it serves {served})")
        with_handlers = {h.alias for h in all_handlers([service])}
        aliases = databases or [a for a in events_settings.services()[service] if a in with_handlers]
        unknown = sorted(set(aliases) - with_handlers)
        if unknown:
            raise CommandError(
                f"no handler of {service!r} writes to {unknown}; choose from {sorted(with_handlers)}"
            )

        metrics.serve()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        runtimes = [KafkaConsumerRuntime(alias) for alias in aliases]
        freeze_startup_heap()
        threads = [
            threading.Thread(target=self._run, args=(runtime, stop), name=consumer_group(runtime.alias))
            for runtime in runtimes
        ]
        for thread in threads:
            thread.start()
        # The main thread only waits, so signals reach it; any runtime dying ends the process
        # (the container restarts it) rather than leaving half a consumer running. It beats for
        # liveness only while every runtime is alive (events/heartbeat.py): a hung one, or one
        # failing while its database and the broker answer, stops the beat.
        while not stop.is_set() and all(t.is_alive() for t in threads):
            if all(r.liveness.alive() for r in runtimes):
                heartbeat.beat()
            stop.wait(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        if self._failed:
            raise CommandError(f"consumer {self._failed} died")

    _failed: str | None = None

    def _run(self, runtime: KafkaConsumerRuntime, stop: threading.Event) -> None:
        try:
            runtime.run(stop)
        except BaseException:
            self._failed = runtime.alias
            stop.set()
            raise
