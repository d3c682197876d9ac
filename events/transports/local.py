"""In-process transport: the relay hands each event straight to this process's handlers.

The monolith's default. It still goes through the outbox, the relay and each handler's inbox,
so delivery is at-least-once with exactly-once effects, as with Kafka.
"""

from __future__ import annotations

from events.inbox.deliver import deliver_to_all
from events.transports import Message


class LocalTransport:
    def __init__(self, services: list[str]):
        self.services = services

    def send(self, messages: list[Message]) -> None:
        # deliver() parks what a handler cannot apply, so one bad event never blocks the rest.
        for message in messages:
            deliver_to_all(message.event, self.services)

    def close(self) -> None:
        pass
