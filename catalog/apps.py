from django.apps import AppConfig

from shop.topology import ALIAS_FOR_APP

# The write database of catalog: every service transaction and every publish() uses it.
ALIAS = ALIAS_FOR_APP["catalog"]


class CatalogConfig(AppConfig):
    name = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from catalog import handlers  # noqa: F401  (registers this app's event handlers)
