#!/bin/sh
# shop-entrypoint ROLE [ARGS...] — what this container of the one shop image runs. The service
# it is comes from SHOP_SERVICES (its URLs, its databases, its consumers, its tasks).
#   web            gunicorn on :$PORT (WEB_WORKERS x WEB_THREADS; the rest in /app/gunicorn.conf.py)
#   relay          manage.py relay_outbox: outbox -> Kafka (one active per database; others stand by)
#   consumer       manage.py consume_events --service $SHOP_SERVICES
#   worker         celery worker on this service's queue
#   beat           celery beat: this service's schedule (run exactly one)
#   migrate        manage.py migrate_all: this service's databases only
#   wait-migrated  exit once this service's databases are migrated (a Kubernetes init container)
#   topics         manage.py ensure_topics
#   seed           demo data: the staff user (shop; DJANGO_SUPERUSER_*), the demo catalog (catalog)
#   manage ARGS    any manage.py command
set -eu
cd /app
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-shop.settings}"
role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
  web)
    exec gunicorn shop.wsgi:application --worker-tmp-dir /tmp "$@" ;;  # ./gunicorn.conf.py
  relay)
    exec python manage.py relay_outbox "$@" ;;
  consumer)
    exec python manage.py consume_events --service "${SHOP_SERVICES:?a consumer is one service: set SHOP_SERVICES}" "$@" ;;
  worker)
    exec celery -A shop worker --loglevel "${CELERY_LOG_LEVEL:-INFO}" \
      --concurrency "${CELERY_CONCURRENCY:-2}" --without-gossip --without-mingle "$@" ;;
  beat)
    exec celery -A shop beat --loglevel "${CELERY_LOG_LEVEL:-INFO}" --schedule /tmp/celerybeat-schedule "$@" ;;
  migrate)
    exec python manage.py migrate_all "$@" ;;
  wait-migrated)
    until python - <<'PY'
import sys

import django

django.setup()
from django.conf import settings
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

for alias in settings.SERVED_ALIASES:
    executor = MigrationExecutor(connections[alias])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        sys.exit(f"{alias}: migrations pending")
PY
    do
      echo "waiting for the migrate job..." >&2
      sleep 3
    done ;;
  topics)
    exec python manage.py ensure_topics --partitions "${KAFKA_PARTITIONS:-6}" \
      --replication-factor "${KAFKA_REPLICATION_FACTOR:-1}" "$@" ;;
  seed)
    case ",${SHOP_SERVICES:-}," in
      *,shop,*)
        # createsuperuser --noinput reads DJANGO_SUPERUSER_USERNAME/_EMAIL/_PASSWORD; a second
        # run finds the user and changes nothing.
        python manage.py createsuperuser --noinput 2>/tmp/seed.err \
          || grep -q "already taken" /tmp/seed.err || { cat /tmp/seed.err >&2; exit 1; } ;;
    esac
    case ",${SHOP_SERVICES:-}," in
      *,catalog,*) python manage.py seed_catalog ;;
    esac ;;
  manage)
    exec python manage.py "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
