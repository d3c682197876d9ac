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
