import logging

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The composition root's own app: project-wide commands, and the process's telemetry."""

    name = "shop"

    def ready(self) -> None:
        from shop import telemetry

        # Python's warnings become log records: JSON lines with the ids, like everything else.
        logging.captureWarnings(True)

        # Before the first request or task: the Django instrumentation inserts its middleware
        # when the handler loads the middleware stack, after every app is ready.
        telemetry.configure()
