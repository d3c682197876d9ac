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
        from events import metrics
        from orders.read import projection  # noqa: F401

        # The lag on /metrics is measured at every scrape, not only when someone asks the API.
        metrics.on_scrape(_sample_projection_lag)


def _sample_projection_lag() -> None:
    from django.conf import settings

    from orders.read.queries import projection_lag

    if ALIAS in settings.SERVED_ALIASES:  # a process that serves the read side
        projection_lag()
