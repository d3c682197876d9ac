"""The log line of every shop process: one JSON object per line (python-json-logger) with the
request id, trace id and span id of the work it belongs to — or plain text in dev. Shared by
Django's LOGGING (shop/settings.py) and gunicorn's own loggers (gunicorn.conf.py), so a web
process's every line has the same shape."""

# Sets request_id, trace_id and span_id on each record ("-" where there is none).
IDS_FILTER = {"()": "shop.middleware.RequestIdLogFilter"}
FORMATTERS = {
    "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(trace_id)s] %(message)s"},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s %(span_id)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exc"},
        "timestamp": False,
    },
}


def default_format(shop_env: str) -> str:
    """plain in dev (and tests), json in production."""
    return "json" if shop_env == "prod" else "plain"


def dict_config(log_format: str, *, loggers: dict, root_level: str | None = None) -> dict:
    """A logging dictConfig: one handler, `console` (stderr), writing `log_format` ("plain" or
    "json") with the ids on every record; `loggers` as given, and the root logger at `root_level`
    on the console too unless None."""
    config: dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"ids": IDS_FILTER},
        "formatters": FORMATTERS,
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["ids"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": loggers,
    }
    if root_level is not None:
        config["root"] = {"handlers": ["console"], "level": root_level}
    return config
