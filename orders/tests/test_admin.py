"""The admin shows orders read-only and cancels them through the service (so the event goes out)."""

import pytest

from orders.models import Order
from orders.tests.factories import OrderFactory, ProductSnapshotFactory
from orders.tests.helpers import API_DBS, published

pytestmark = pytest.mark.django_db(databases=API_DBS)


@pytest.mark.parametrize("model", ["order", "orderline", "productsnapshot"])
def test_admin_lists_every_model(admin_client, model):
    OrderFactory()
    ProductSnapshotFactory()

    assert admin_client.get(f"/admin/orders/{model}/").status_code == 200


def test_admin_shows_an_order_with_its_lines(admin_client):
    order = OrderFactory()

    response = admin_client.get(f"/admin/orders/order/{order.pk}/change/")

    assert response.status_code == 200
    assert order.lines.get().sku in response.content.decode()


def test_admin_cancel_action_cancels_through_the_service(admin_client):
    pending, shipped = OrderFactory(), OrderFactory(status=Order.Status.SHIPPED)

    response = admin_client.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [pending.pk, shipped.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert Order.objects.get(pk=pending.pk).status == "CANCELLED"
    assert Order.objects.get(pk=shipped.pk).status == "SHIPPED"
    cancelled = published("shop.orders.order_cancelled.v1")
    assert cancelled == [{"order_id": pending.pk, "reason": "cancelled by staff"}]
