"""Settings for pytest: the same settings module, with SHOP_ENV=test (no background threads,
eager Celery, fast password hashing). Databases and transport still come from the environment,
so the same suite runs on SQLite + local and on Postgres + Kafka."""

import os

os.environ.setdefault("SHOP_ENV", "test")

from shop.settings import *  # noqa: F403
