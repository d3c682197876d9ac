from django.apps import AppConfig

from shop.topology import ALIAS_FOR_APP

# The write database of delivery: every service transaction and every publish() uses it.
ALIAS = ALIAS_FOR_APP["delivery"]


class DeliveryConfig(AppConfig):
    name = "delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from delivery import handlers  # noqa: F401  (registers this app's event handlers)
