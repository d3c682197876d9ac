"""What a long-running process loaded at start-up, frozen out of the garbage collector's way:
the relay and consumer loops, the web workers (gunicorn.conf.py) and Celery's (shop/celery.py).

CPython's cyclic collector walks every tracked object of the generation it collects. A relay or
consumer process holds ~114,000 of them once Django, the apps, psycopg and kafka-python are
loaded, and a full collection of them took ~50 ms; a busy relay, whose batches live long enough
to reach the oldest generation, set one off every few batches. `gc.freeze()` moves what exists
now to a permanent generation that collections skip, so they walk only what the process made
since. Measured with bench/relay_throughput.py (bench/RESULTS.md): the relay's CPU per event
went from 1.3-1.5x its Kafka client's to 1.1x.
"""

import gc


def freeze_startup_heap() -> None:
    """Call once a process has loaded its code and settings, before its loop starts. Garbage
    is collected first, so that it is freed rather than frozen."""
    gc.collect()
    gc.freeze()
