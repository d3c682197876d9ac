from django.apps import AppConfig

from shop.topology import ALIAS_FOR_APP

# The read side's own database: the projection writes only here, the API reads only from here.
ALIAS = ALIAS_FOR_APP["orders_read"]


class OrdersReadConfig(AppConfig):
    name = "orders.read"
    label = "orders_read"
    verbose_name = "Orders read side"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the projection's handler (a consumer process never imports the views).
        from orders.read import projection  # noqa: F401
