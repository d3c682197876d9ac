"""gunicorn's settings file (read from the working directory: the repository, or /app in the
image). Only its own log lines: in the same shape as the application's (shop/logs.py), so every
line of a web process is JSON in production — gunicorn's start, its workers, their timeouts."""

import os

from shop import logs

_format = os.environ.get("LOG_FORMAT") or logs.default_format(os.environ.get("SHOP_ENV", "dev"))
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": logs.IDS_FILTER},
    "formatters": logs.FORMATTERS,
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": _format,
            "filters": ["ids"],
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
