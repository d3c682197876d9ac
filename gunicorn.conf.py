"""gunicorn's settings file, read from the working directory: the repository (the local
topologies, devtools/cluster.py) or /app in the image (docker/entrypoint.sh) — one file, so the
two cannot drift apart. Command-line flags still win: the local topologies pass their own
--bind, --workers and --threads.

Its own log lines are in the same shape as the application's (shop/logs.py), so every line of a
web process is JSON in production — gunicorn's start, its workers, their timeouts."""

import os

from gunicorn import util

from events import heap
from shop import errors, logs

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))  # gthread: a slow request does not hold a process
# A request that takes longer is a stuck worker: it is killed and replaced.
timeout = 30
graceful_timeout = 20  # SIGTERM: requests in flight finish (Kubernetes waits 30 s before SIGKILL)
# Idle keep-alive connections from the gateway stay open longer than the gateway keeps them
# (keepalive_timeout 60s in docker/gateway/nginx.conf.template): it is always the gateway that
# closes an idle connection. The other way round, nginx may reuse a connection at the moment
# gunicorn closes it, get a reset, and count a failure against a healthy replica.
keepalive = 75

_format = os.environ.get("LOG_FORMAT") or logs.default_format(os.environ.get("SHOP_ENV", "dev"))
# gunicorn's own loggers write to the console only (nothing propagates to a root it does not set).
logconfig_dict = logs.dict_config(
    _format,
    loggers={
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
)


def _write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    # gunicorn answers a request it cannot parse (a request line over limit_request_line, headers
    # over their limits, a malformed request) with an HTML page of its own, before Django runs:
    # the API's clients get the one JSON error shape instead (shop/errors.py).
    util.write_nonblock(sock, errors.protocol_error(status_int, reason, mesg))


util.write_error = _write_json_error  # the one function gunicorn's workers answer such errors with


def post_worker_init(worker) -> None:
    # The worker has loaded Django and the apps: out of the garbage collector's way (events/heap.py).
    heap.freeze_startup_heap()
