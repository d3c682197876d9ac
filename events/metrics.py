"""Prometheus metrics of the event pipeline, named `<EVENTS NAME>_...` (the host exposes them).

Counters count what this process did since it started. What must survive a restart — how many
events wait in an outbox, how many are parked as dead letters, how far a projection is behind —
is read from the databases when /metrics is scraped (`refresh`), never accumulated in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram

from events.settings import events_settings

log = logging.getLogger(__name__)
_PREFIX = events_settings.NAME

RELAYED = Counter(
    f"{_PREFIX}_events_relayed_total", "Outbox rows sent and acknowledged", ["database", "topic"]
)
RELAY_BATCH_SECONDS = Histogram(
    f"{_PREFIX}_relay_batch_seconds", "Time to send one outbox batch and mark it published", ["database"]
)
RELAY_FAILURES = Counter(
    f"{_PREFIX}_relay_failures_total", "Batches the transport failed to send", ["database"]
)
OUTBOX_BACKLOG = Gauge(f"{_PREFIX}_outbox_backlog", "Unpublished outbox rows", ["database"])
OUTBOX_OLDEST_AGE = Gauge(
    f"{_PREFIX}_outbox_oldest_age_seconds", "Age of the oldest unpublished row", ["database"]
)
HANDLED = Counter(f"{_PREFIX}_events_handled_total", "Events handled, by outcome", ["handler", "outcome"])
HANDLER_FAILURES = Counter(f"{_PREFIX}_handler_failures_total", "Handler attempts that raised", ["handler"])
DEAD_LETTERS = Counter(
    f"{_PREFIX}_dead_letters_total", "Events parked as dead letters by this process", ["handler"]
)
DEAD_LETTERS_PARKED = Gauge(
    f"{_PREFIX}_dead_letters_parked",
    "Dead letters parked and not replayed, read from the database",
    ["database", "handler"],
)
CONSUMER_LAG = Gauge(
    f"{_PREFIX}_consumer_lag", "Messages behind the end of the partition", ["group", "topic", "partition"]
)
PROJECTION_LAG_EVENTS = Gauge(
    f"{_PREFIX}_projection_lag_events", "Events not yet applied by a projection", ["projection"]
)
PROJECTION_LAG_SECONDS = Gauge(
    f"{_PREFIX}_projection_lag_seconds",
    "Age of the oldest event a projection has not applied",
    ["projection"],
)


# Sampled on scrape: functions that set gauges from a database (e.g. a projection's lag).
_samplers: list[Callable[[], None]] = []
# (database, handler) pairs a dead-letter gauge was set for, so a count that drops to zero reads 0.
_parked_seen: set[tuple[str, str]] = set()


def on_scrape(sampler: Callable[[], None]) -> Callable[[], None]:
    """Register `sampler` to run before every scrape (an app's AppConfig.ready does)."""
    if sampler not in _samplers:
        _samplers.append(sampler)
    return sampler


def refresh(aliases: Iterable[str]) -> None:
    """Set the gauges read from the databases: outbox backlog and age, parked dead letters, and
    whatever samplers apps registered. A database or sampler that fails is logged and skipped,
    so one outage does not hide every other figure."""
    from events.outbox.relay import backlog

    for alias in aliases:
        for what, sample in (("outbox backlog", backlog), ("dead letters", _sample_parked)):
            try:
                sample(alias)
            except Exception:
                log.warning("metrics: %s of %s not sampled", what, alias, exc_info=True)
    for sampler in _samplers:
        try:
            sampler()
        except Exception:
            log.warning("metrics: %s failed", getattr(sampler, "__qualname__", sampler), exc_info=True)


def _sample_parked(alias: str) -> None:
    from django.db.models import Count

    from events.models import DeadLetter

    rows = (
        DeadLetter.objects.using(alias)
        .filter(status=DeadLetter.Status.PARKED)
        .values_list("handler")
        .annotate(n=Count("id"))
    )
    counts = {(alias, handler): n for handler, n in rows}
    for key in _parked_seen - counts.keys():
        if key[0] == alias:
            DEAD_LETTERS_PARKED.labels(*key).set(0)
    for key, n in counts.items():
        DEAD_LETTERS_PARKED.labels(*key).set(n)
    _parked_seen.update(counts)


def serve() -> None:
    """Serve this process's metrics on EVENTS METRICS_ADDRESS:METRICS_PORT (a thread), if a port is
    set: how a relay or consumer process, which has no web server, is scraped."""
    if events_settings.METRICS_PORT:
        from prometheus_client import start_http_server

        address, port = events_settings.METRICS_ADDRESS, events_settings.METRICS_PORT
        start_http_server(port, addr=address)
        log.info("metrics on http://%s:%d/metrics", address, port)
