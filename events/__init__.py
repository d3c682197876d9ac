"""events: a transactional outbox, an idempotent inbox and their transports, for Django apps that
talk to each other only through events. A library: it imports nothing of the project that uses
it; the project configures it through the EVENTS setting (events/settings.py).

One event's path, and where each step lives:

  contract    schemas/<type>.json         JSON Schema of the data + its topic (`x-topic`);
              schemas.py                  validate(), topic_for()
  published   outbox/publish.py           publish(): an OutboxEvent row in the caller's
                                          transaction (models.py), nothing sent yet
  relayed     outbox/relay.py             Relay: unpublished rows in id order -> a transport,
                                          marked published after the ack; run() is the loop of
                                          `manage.py relay_outbox`
              outbox/locks.py             one active relay per database (advisory/file lock)
              outbox/wakeup.py            woken at commit: LISTEN/NOTIFY, or an in-process kick
              outbox/in_process.py        the monolith's relay thread in the web process
  carried     transports/local.py         in-process: straight to this process's handlers
              transports/kafka/producer.py  to Kafka, acks=all (CloudEvents binary mode)
  consumed    transports/kafka/consumer.py  `manage.py consume_events`: a group per service
                                          database, a poll per transaction, offsets after it
              registry.py                 @handles(*types): which handler runs for which type,
                                          in which service and database
              inbox/apply.py              apply(): the handler + its InboxEntry row, one
                                          transaction, so a redelivery is a no-op
  retried     inbox/deliver.py            deliver(): apply() with backoff, EVENTS HANDLER_ATTEMPTS
  parked      inbox/dead_letters.py       park(): a DeadLetter row (+ the dead letter topic on
                                          Kafka); replay() applies it once the cause is fixed:
                                          `manage.py replay_dead_letters` or the admin action

Around them: envelope.py (the CloudEvents envelope), eventlog.py (every event ever published,
to rebuild projections from), lag.py (how far a consumer is behind), drain.py (is everything a
service published relayed and consumed: what a cut-over waits for), history.py (a monolith's
outbox history made the start of the Kafka log), transports/kafka/admin.py (topics, readiness,
group lag, offsets), tasks.py (pruning published rows), admin.py (outbox, inbox and
dead letters of every database), metrics.py, tracing.py (the create / send / process spans,
through the OpenTelemetry API only, and the trace context and request id carried in events),
heartbeat.py (liveness of the relay and consumer loops: a stall, not an outage), outage.py
(how those loops ride out a database or broker outage: fresh connections, backoff, a log line
per outage, DatabaseUnavailable for a handler whose database is out), heap.py (the start-up
heap those loops and the web and Celery workers freeze out of the garbage collector's way),
faults.py (crash points for the fault tests), testing.py (drain(): run the saga to the end in tests).

The public API is importable from here: `from events import publish, handles, Event`.
"""

from typing import TYPE_CHECKING, Any

__all__ = ["Event", "handles", "publish"]

if TYPE_CHECKING:
    from events.envelope import Event
    from events.outbox.publish import publish
    from events.registry import handles


def __getattr__(name: str) -> Any:
    # Lazy, so `from events import publish` works without importing models before apps load.
    if name == "publish":
        from events.outbox.publish import publish

        return publish
    if name == "handles":
        from events.registry import handles

        return handles
    if name == "Event":
        from events.envelope import Event

        return Event
    raise AttributeError(name)
