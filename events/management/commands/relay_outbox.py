import logging
import signal
import threading
from typing import Any

from django.core.management import BaseCommand, CommandParser

from events import metrics
from events.heap import freeze_startup_heap
from events.outbox import relay
from events.settings import events_settings
from events.transports import get_transport

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Relay committed outbox rows to the transport (EVENTS_TRANSPORT), marking them published "
        "only after the ack. One active relay per database; others stand by. SIGTERM finishes "
        "the batch in flight, then exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            action="append",
            dest="aliases",
            help="alias to relay (repeatable; default: all this process serves)",
        )
        parser.add_argument(
            "--once", action="store_true", help="relay until the outboxes are empty, then exit"
        )

    def handle(
        self, *args: Any, aliases: list[str] | None = None, once: bool = False, **options: Any
    ) -> None:
        aliases = aliases or events_settings.served_databases()
        metrics.serve()
        transport = get_transport()
        try:
            if once:
                sent = relay.relay_until_empty(aliases, transport)
                self.stdout.write(f"relayed {sent} event(s)")
                return
            stop, wake = threading.Event(), threading.Event()

            def on_signal(signum: int, frame: object) -> None:
                stop.set()
                wake.set()

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            freeze_startup_heap()
            # A log line, not stdout: a long-running process's output is its log (JSON in production).
            log.info("relaying %s via %s", ", ".join(aliases), events_settings.TRANSPORT)
            relay.run(aliases, transport, stop=stop, wake=wake, listen=True)
        finally:
            transport.close()
