"""A Celery beat started without --schedule (README section 2: `celery -A shop worker -B`) keeps
its schedule with the other runtime data, never in the working directory (the repository)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from shop.celery import app


def test_a_beat_without_schedule_flag_keeps_its_state_in_the_data_folder():
    schedule = Path(app.conf.beat_schedule_filename)

    assert schedule.parent == settings.DATA_DIR
    assert schedule.name.startswith("celerybeat-schedule")  # what `make reset` deletes


def test_each_queue_has_a_schedule_file_of_its_own():
    # Two services' beats started from one checkout must not open one shelve file.
    assert app.conf.beat_schedule_filename.endswith("." + settings.CELERY_TASK_DEFAULT_QUEUE)
