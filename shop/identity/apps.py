from django.apps import AppConfig


class IdentityConfig(AppConfig):
    """Users and tokens. Users live in `default` (django.contrib.auth); only this service holds
    the private key and signs tokens, every other service verifies them with the public key."""

    name = "shop.identity"
    label = "identity"
    verbose_name = "Identity"
