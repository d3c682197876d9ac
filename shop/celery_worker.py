"""What the Celery workers run beyond stock Celery (CELERY_WORKER_CONSUMER in shop/settings.py); only
worker processes import it."""

from celery.worker.consumer import Consumer as CeleryConsumer


class Consumer(CeleryConsumer):
    """Celery's worker consumer, surviving the loss of its Redis connection while it holds tasks.

    When the connection drops, Celery 5.7 closes it; closing the Redis channel tries to hand the
    tasks this worker holds unacknowledged (shipment steps waiting for their countdown) back to
    Redis, through a transport it has already torn down: an AttributeError that no handler
    expects, and the worker exits ("Unrecoverable error"). The hand-back is not needed: those
    tasks are still in Redis's own unacked set (persisted with the append-only file), which Redis
    restores to the queue after the visibility timeout — and the sweep resumes their shipments
    sooner (delivery.tasks). So the channel is told not to try (settings: CELERY_WORKER_CONSUMER).
    """

    def on_connection_error_after_connected(self, exc):
        channel = getattr(self.connection, "_default_channel", None)
        qos = getattr(channel, "_qos", None)  # only one that exists: creating it would need Redis
        if qos is not None:
            qos.restore_at_shutdown = False
        super().on_connection_error_after_connected(exc)
