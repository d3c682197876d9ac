"""Django's runserver (with static files), saying once it is listening which URLs it serves —
from the address and port it really bound, so `runserver 0` or `make run PORT=8200` print the
truth."""

from __future__ import annotations

import os
import signal

from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.utils import autoreload

from shop import errors


class JsonErrorsRequestHandler(WSGIRequestHandler):
    """Django's request handler, whose own refusals (a request line over 64 KiB, more than 100
    headers, a malformed request line) are in the API's JSON error shape, not http.server's HTML
    page — as gunicorn's are (gunicorn.conf.py)."""

    def send_error(self, code, message=None, explain=None):
        reason = self.responses.get(code, ("Error",))[0]
        message = message or reason
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        self.wfile.write(errors.protocol_error(code, reason, message))


class JsonErrorsWSGIServer(WSGIServer):
    def __init__(self, server_address, handler_class, *args, **kwargs):
        super().__init__(server_address, JsonErrorsRequestHandler, *args, **kwargs)


class StaticFiles(StaticFilesHandler):
    """Django's development static files handler, answering a path that climbs out of the
    static folders (`/static/../x`) with the 400 Django gives it everywhere else: the finders
    refuse it with SuspiciousFileOperation, which the handler (catching only Http404) let reach
    the server as a 500."""

    def get_response(self, request):
        try:
            return super().get_response(request)
        except SuspiciousOperation as exc:
            return response_for_exception(request, exc)


class Command(StaticfilesRunserver):
    server_cls = JsonErrorsWSGIServer

    def get_handler(self, *args, **options):
        handler = super().get_handler(*args, **options)
        if isinstance(handler, StaticFilesHandler):
            return StaticFiles(handler.application)
        return handler

    def run(self, **options):
        # SIGTERM stops the server as Ctrl-C does: an orderly exit, whose atexit hooks let the
        # in-process relay finish the batch in hand (events/outbox/in_process.py), where
        # Python's default would end the process mid-batch. Only in the process that serves,
        # not in the autoreloader's parent.
        if not options["use_reloader"] or os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true":
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        super().run(**options)

    def on_bind(self, server_port):
        super().on_bind(server_port)
        if self._raw_ipv6:
            host = f"[{self.addr}]"
        elif self.addr in ("0", "0.0.0.0"):
            host = "127.0.0.1"  # every interface; this one surely
        else:
            host = self.addr
        base = f"{self.protocol}://{host}:{server_port}"
        lines = [f"shop ({', '.join(settings.SHOP_SERVICES)}) at {base}/", f"  API docs  {base}/api/docs/"]
        if "shop" in settings.SHOP_SERVICES:
            lines.append(f"  admin     {base}/admin/   (after `make seed`: admin / demo-pass-123)")
        lines.append(f"  health    {base}/healthz  {base}/readyz")
        self.stdout.write("\n".join(lines), self.style.SUCCESS)
