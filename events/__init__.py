"""Event infrastructure every app uses.

Where to look:
  envelope.py   the CloudEvents envelope (what travels)
  schemas/      the JSON Schema of every event type's data: the contract between services
  outbox.py     publish(): the outbox row, written in the caller's transaction
  relay.py      the relay: outbox -> transport, marking rows published after the ack
  transports/   local (in-process dispatch) and kafka
  registry.py   @handles: which handler consumes which event type, in which service
  consumer.py   applying one event to one handler: inbox dedup, retries, dead letters
  runtime.py    the monolith's in-process relay thread, woken on commit
"""

from typing import TYPE_CHECKING

__all__ = ["Event", "handles", "publish"]

if TYPE_CHECKING:
    from events.envelope import Event
    from events.outbox import publish
    from events.registry import handles


def __getattr__(name: str):
    # Lazy, so `from events import publish` works without importing models before apps load.
    if name == "publish":
        from events.outbox import publish

        return publish
    if name == "handles":
        from events.registry import handles

        return handles
    if name == "Event":
        from events.envelope import Event

        return Event
    raise AttributeError(name)
