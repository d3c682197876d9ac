"""The Celery app: Redis in the split deployment, memory:// with an in-process worker in the
monolith (see shop/wsgi.py), eager in tests."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
