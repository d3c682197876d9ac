"""What the benchmarks share: Django set up for one role, percentiles, Markdown tables, Kafka
clean-up. Postgres databases and local processes come from devtools (devtools/postgres.py,
devtools/cluster.py), as for the tests."""

from __future__ import annotations

import math
import os


def setup_django(**environment: str) -> None:
    """Set up Django in this process the way a production process of one role runs: DEBUG off
    (it would keep every query in memory), no in-process relay or Celery worker, quiet logs, and
    `environment` (the role's databases, transport, ...) on top."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    os.environ["EVENTS_RELAY_IN_PROCESS"] = "0"
    os.environ["CELERY_IN_PROCESS_WORKER"] = "0"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.update(environment)
    import django

    django.setup()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list (inf counts as the largest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def markdown_table(header: list[str], rows: list[list], right: set[int]) -> str:
    """A Markdown table, columns padded to their widest cell; the `right` columns right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list) -> str:
        return (
            "| "
            + " | ".join(
                str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i])
                for i, c in enumerate(cells)
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def human(n: int) -> str:
    """1000 -> 1k, 100000 -> 100k; other numbers as they are."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def delete_topics(bootstrap: str | list[str], names: list[str], *, groups: list[str] = ()) -> None:
    """Delete these topics (those that exist) and consumer groups from a shared broker."""
    import contextlib

    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="shop-bench", request_timeout_ms=5000)
    try:
        if groups:
            with contextlib.suppress(Exception):  # a group that never committed does not exist
                admin.delete_groups(list(groups))
        doomed = [n for n in names if n in set(admin.list_topics())]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()
