"""The event history a monolith leaves behind, made the beginning of the Kafka log.

In the monolith (local transport) the log is the outbox tables: the relay hands each event to every
handler in-process and marks it published, so a published row is an event that every handler has
seen (applied, found in its inbox, or parked as a dead letter), and an unpublished row is one that
no handler has seen. (A monolith stopped with Ctrl-C or SIGTERM handles and marks the event in hand
before it exits; one that was killed may leave a row its handlers saw unmarked: it goes after the
history like any pending row, a no-op for the inboxes, and a read side rebuilt from Kafka lacks it
until the relay has sent it.) On Kafka the log is the topics, read by one consumer group per service
database. Moving from one to the other (shape 1 -> shape 2) must keep three promises;
`publish_history` keeps them:

1. The history stays a log. `rebuild_projections` on Kafka reads the topics from the beginning,
   so the published rows are sent there first, in id order per database (one aggregate's events
   live in one database, so per-aggregate order holds), before anything new.
2. Nothing is applied twice. Every consumer group is then committed at the end of the topics:
   what the history holds was applied in-process already, so no consumer reads it again. (Were
   it read again, the inbox rows that moved with the databases would still turn each event into
   a no-op; the offsets spare the work and keep that a second line of defence.)
3. What was pending is delivered once. Unpublished rows are left alone; the relay sends them
   after the history, past the committed offsets, so each consumer applies them exactly once.

It must run before any relay or consumer of the new shape: it holds every database's relay lock
while it works and refuses topics that already hold events (a history published twice would
be a log with every event twice).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from events.models import OutboxEvent
from events.outbox.locks import lock_for
from events.outbox.relay import outbox_messages
from events.registry import all_handlers
from events.schemas import event_types, topic_for
from events.transports import Transport
from events.transports.kafka import kafka_name
from events.transports.kafka.admin import commit_offsets, committed_offsets, end_offsets
from events.transports.kafka.consumer import consumer_group

BATCH = 1000


class HistoryRefused(Exception):
    """Publishing the history now would break one of the promises above; nothing was sent."""


@dataclass
class HistoryPublished:
    events: dict[str, int] = field(default_factory=dict)  # database -> published events sent
    pending: dict[str, int] = field(default_factory=dict)  # database -> rows left for the relay
    groups: dict[str, int] = field(default_factory=dict)  # consumer group -> offset committed (sum)


def consumer_groups(services: list[str]) -> dict[str, list[str]]:
    """{consumer group: the topics it reads} of every service database with handlers."""
    topics: dict[str, set[str]] = {}
    for handler in all_handlers(services):
        topics.setdefault(handler.alias, set()).add(topic_for(handler.event_type))
    return {consumer_group(alias): sorted(names) for alias, names in topics.items()}


@contextlib.contextmanager
def relay_locks(aliases: list[str]) -> Iterator[None]:
    """Hold the relay lock of every database, or refuse: no relay may send while the history
    is published and the offsets set."""
    locks = []
    try:
        for alias in aliases:
            lock = lock_for(alias)
            if not lock.acquire():
                raise HistoryRefused(f"a relay is running on database {alias}: stop every relay first")
            locks.append(lock)
        yield
    finally:
        for lock in locks:
            lock.release()


def publish_history(
    aliases: list[str],
    services: list[str],
    transport: Transport,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> HistoryPublished:
    """Send every published outbox row of `aliases` to the topics (in id order, per database),
    then commit every consumer group of `services` at the end of its topics. Unpublished rows
    stay for the relay. Raises HistoryRefused, having sent nothing, if a relay is running, the
    topics already hold events or a consumer group already committed offsets."""
    groups = consumer_groups(services)
    all_topics = sorted({topic_for(t) for t in event_types()})
    result = HistoryPublished()
    with relay_locks(aliases):
        ends = end_offsets(all_topics)
        if any(ends.values()):
            holding = sorted({tp.topic for tp, offset in ends.items() if offset})
            raise HistoryRefused(
                f"the topics already hold events ({', '.join(holding)}): the history was published "
                "before, or consumers of the new shape ran already"
            )
        for group, topics in groups.items():
            if committed_offsets(group, _partitions_of(ends, topics)):
                raise HistoryRefused(f"consumer group {group} has committed offsets already")
        for alias in aliases:
            result.events[alias] = _send_published(alias, transport, progress)
            result.pending[alias] = OutboxEvent.objects.using(alias).filter(published_at__isnull=True).count()
        ends = end_offsets(all_topics)
        for group, topics in groups.items():
            offsets = {tp: ends[tp] for tp in _partitions_of(ends, topics)}
            commit_offsets(group, offsets)
            result.groups[group] = sum(offsets.values())
    return result


def _partitions_of(offsets: dict, topics: list[str]) -> list:
    names = {kafka_name(t) for t in topics}
    return [tp for tp in offsets if tp.topic in names]


def _send_published(alias: str, transport: Transport, progress: Callable[[str, int], None] | None) -> int:
    published = OutboxEvent.objects.using(alias).filter(published_at__isnull=False)
    sent, last = 0, 0
    while batch := outbox_messages(published.filter(id__gt=last), BATCH):
        transport.send([message for _, message in batch])
        sent += len(batch)
        last = batch[-1][0]
        if progress:
            progress(alias, len(batch))
    return sent
