"""The relay and consumer processes freeze their start-up heap before their loop
(events/heap.py): what the garbage collector would otherwise walk again and again while they work."""

import gc
import signal
import threading
import weakref

import pytest
from django.core.management import call_command

from events import heartbeat
from events.heap import freeze_startup_heap


@pytest.fixture(autouse=True)
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.fixture
def signal_handlers():
    """The commands install their SIGTERM/SIGINT handlers in this (pytest's) process: restored."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_the_start_up_heap_is_frozen_and_its_garbage_freed_first():
    garbage = Cycle()
    freed = weakref.ref(garbage)
    kept = [Cycle()]
    del garbage
    freeze_startup_heap()
    assert freed() is None  # collected, not frozen forever
    assert gc.get_freeze_count() > 1000  # Django and the apps, at least
    assert gc.isenabled()  # what the process makes from now on is still collected
    gc.collect()
    assert kept[0].me is kept[0]


def test_the_relay_process_freezes_before_its_loop(monkeypatch, signal_handlers):
    frozen_at_start: list[int] = []
    monkeypatch.setattr(
        "events.outbox.relay.run", lambda *args, **kwargs: frozen_at_start.append(gc.get_freeze_count())
    )
    call_command("relay_outbox")
    assert frozen_at_start
    assert frozen_at_start[0] > 1000


def test_the_consumer_process_freezes_before_its_loop(monkeypatch, settings, signal_handlers):
    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "kafka"}
    frozen_at_start: list[int] = []

    class Runtime:  # stands in for KafkaConsumerRuntime: returns at once, ending the process
        def __init__(self, alias: str) -> None:
            self.alias = alias
            self.liveness = heartbeat.Liveness()

        def run(self, stop: threading.Event) -> None:
            frozen_at_start.append(gc.get_freeze_count())

    monkeypatch.setattr("events.management.commands.consume_events.KafkaConsumerRuntime", Runtime)
    call_command("consume_events", service="orders")
    assert frozen_at_start
    assert min(frozen_at_start) > 1000
