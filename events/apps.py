from django.apps import AppConfig
from django.core import checks


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events (outbox, inbox, dead letters)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.settings import check_settings

        checks.register(check_settings)
