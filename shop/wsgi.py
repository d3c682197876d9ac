"""WSGI entry point (gunicorn, runserver). In the monolith it also starts the in-process relay
and Celery worker, so one process runs the whole saga."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
application = get_wsgi_application()

from shop import inprocess  # noqa: E402

inprocess.start_background_workers()
