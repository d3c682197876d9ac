from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events (outbox, inbox, dead letters)"
    default_auto_field = "django.db.models.BigAutoField"
