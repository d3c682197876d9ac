"""What a long-running process loaded at start-up, frozen out of the garbage collector's way:
the relay and consumer loops, the web workers (gunicorn.conf.py) and Celery's (shop/celery.py).

CPython's cyclic collector walks every tracked object of the generation it collects. A process
holds ~115,000-120,000 of them once Django, the apps, psycopg and kafka-python are loaded, and a
full collection of them took 50-70 ms here: a pause in whatever the process was doing. A busy
relay, whose batches live long enough to reach the oldest generation, set one off every dozen
batches or so. `gc.freeze()` moves what exists now to a permanent generation that collections
skip, so they walk only what the process made since: a full collection then took under 0.1 ms
(bench/RESULTS.md).
"""

import gc


def freeze_startup_heap() -> None:
    """Call once a process has loaded its code and settings, before its loop starts. Garbage
    is collected first, so that it is freed rather than frozen."""
    gc.collect()
    gc.freeze()
