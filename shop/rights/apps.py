from django.apps import AppConfig


class RightsConfig(AppConfig):
    """The replica of users' rights: no home database, migrated into each of
    topology.RIGHTS_REPLICAS (shop/routers.py), each fed by a handler of its own."""

    name = "shop.rights"
    label = "rights"
    verbose_name = "Users' rights (replica)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from shop.rights import handlers  # noqa: F401  (registers one handler per replica)
