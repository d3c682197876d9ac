"""WSGI entry point (gunicorn, runserver). In the monolith it also starts the in-process relay
and Celery worker, so one process runs the whole saga."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
# What django.core.wsgi.get_wsgi_application() does, with the project's handler: its requests
# never decode with a charset that is no text encoding (shop/charsets.py).
django.setup(set_prefix=False)

from shop import charsets, inprocess  # noqa: E402

application = charsets.WSGIHandler()

inprocess.start_background_workers()
