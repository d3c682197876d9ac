"""Draining before a cut: is everything a service published relayed, and everything published
for it consumed?

- Its outboxes: no row waiting for the relay (on any transport).
- Its consumer groups (Kafka): each has committed at least the end offsets its topics had when
  the drain began. The mark stays where it was set: under traffic new events keep arriving, and
  "no lag" would be a moving target; what a drain promises is that nothing published before it
  began is still waiting. With the local transport an event is consumed when it is relayed, so
  the outboxes say it all.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.outbox.relay import backlog


@dataclass
class Figures:
    pending: dict[str, int]  # database -> unpublished outbox rows
    oldest: dict[str, float | None]  # database -> age in seconds of the oldest of them
    behind: dict[str, int]  # consumer group -> records before the mark not yet committed

    @property
    def drained(self) -> bool:
        return not any(self.pending.values()) and not any(self.behind.values())


class Drain:
    """The figures of one drain, from the mark set when it was created."""

    def __init__(self, aliases: list[str], groups: dict[str, list[str]] | None = None):
        self.aliases = aliases
        self.groups = groups or {}  # consumer group -> topics (empty without Kafka)
        self.mark: dict = {}
        if self.groups:
            from events.transports.kafka.admin import end_offsets

            self.mark = end_offsets(sorted({t for topics in self.groups.values() for t in topics}))

    def figures(self) -> Figures:
        pending, oldest = {}, {}
        for alias in self.aliases:
            pending[alias], oldest[alias] = backlog(alias)
        behind = {}
        if self.groups:
            from events.transports.kafka import kafka_name
            from events.transports.kafka.admin import committed_offsets

            for group, topics in self.groups.items():
                names = {kafka_name(t) for t in topics}
                partitions = [tp for tp in self.mark if tp.topic in names]
                committed = committed_offsets(group, partitions)
                behind[group] = sum(max(0, self.mark[tp] - committed.get(tp, 0)) for tp in partitions)
        return Figures(pending, oldest, behind)
