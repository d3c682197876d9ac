from django.apps import AppConfig

from shop.topology import ALIAS_FOR_APP

# The write database of orders: every service transaction and every publish() uses it.
ALIAS = ALIAS_FOR_APP["orders"]


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import handlers  # noqa: F401  (registers this app's event handlers)
