"""Orders left PENDING too long are cancelled ("timed out") by a Celery beat task."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services, tasks
from orders.models import Order
from orders.tests.factories import OrderFactory
from orders.tests.helpers import DBS, published

pytestmark = pytest.mark.django_db(databases=DBS)

Status = Order.Status


def ago(minutes):
    return timezone.now() - timedelta(minutes=minutes)


def test_expire_cancels_only_old_pending_orders():
    stale = OrderFactory(created_at=ago(31))
    fresh = OrderFactory(created_at=ago(29))
    old_confirmed = OrderFactory(created_at=ago(90), status=Status.CONFIRMED)
    old_shipped = OrderFactory(created_at=ago(90), status=Status.SHIPPED)

    assert services.expire_pending_orders(older_than=ago(30)) == 1

    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {
        stale.pk: "CANCELLED",
        fresh.pk: "PENDING",
        old_confirmed.pk: "CONFIRMED",
        old_shipped.pk: "SHIPPED",
    }
    assert Order.objects.get(pk=stale.pk).status_reason == "timed out"
    assert published("shop.orders.order_cancelled.v1") == [{"order_id": stale.pk, "reason": "timed out"}]


def test_expiring_again_changes_nothing():
    OrderFactory(created_at=ago(60))
    services.expire_pending_orders(older_than=ago(30))

    assert services.expire_pending_orders(older_than=ago(30)) == 0
    assert len(published()) == 1


def test_task_uses_the_configured_timeout(settings):
    settings.ORDER_PENDING_TIMEOUT_MINUTES = 5
    stale, fresh = OrderFactory(created_at=ago(6)), OrderFactory(created_at=ago(4))

    assert tasks.expire_pending_orders.delay().get() == 1

    assert Order.objects.get(pk=stale.pk).status == "CANCELLED"
    assert Order.objects.get(pk=fresh.pk).status == "PENDING"


def test_task_has_the_name_the_beat_schedule_uses(settings):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert tasks.expire_pending_orders.name == "orders.tasks.expire_pending_orders"
    assert tasks.expire_pending_orders.name in scheduled
