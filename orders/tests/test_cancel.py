"""Cancelling: allowed before the carrier has the parcel; after that a 409 saying why."""

import pytest

from orders import services
from orders.models import Order
from orders.tests.factories import OrderFactory
from orders.tests.helpers import API_DBS, DBS, outbox_count, published

Status = Order.Status
CANCELLED = "shop.orders.order_cancelled.v1"


@pytest.mark.django_db(databases=API_DBS)
@pytest.mark.parametrize("status", [Status.PENDING, Status.CONFIRMED])
def test_customer_cancels_an_order_not_yet_shipped(customer, customer_api, status):
    order = OrderFactory(customer_id=customer.id, status=status)

    response = customer_api.post(
        f"/api/orders/{order.pk}/cancel/", {"reason": "found it cheaper"}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_reason"]) == ("CANCELLED", "found it cheaper")
    assert Order.objects.get(pk=order.pk).status == "CANCELLED"
    assert published(CANCELLED) == [{"order_id": order.pk, "reason": "found it cheaper"}]


@pytest.mark.django_db(databases=API_DBS)
@pytest.mark.parametrize(
    ("api", "status", "reason"),
    [
        ("customer_api", Status.PENDING, "cancelled by the customer"),  # their own order
        ("staff_api", Status.CONFIRMED, "cancelled by staff"),  # any customer's order
    ],
)
def test_cancel_without_a_body_gives_a_default_reason_naming_who_cancelled(
    request, customer, api, status, reason
):
    order = OrderFactory(customer_id=customer.id, status=status)

    response = request.getfixturevalue(api).post(f"/api/orders/{order.pk}/cancel/")

    assert response.status_code == 200
    assert published(CANCELLED) == [{"order_id": order.pk, "reason": reason}]


@pytest.mark.django_db(databases=API_DBS)
@pytest.mark.parametrize(
    ("status", "why"),
    [
        (Status.SHIPPED, "has shipped; it can no longer be cancelled"),
        (Status.DELIVERED, "has been delivered; it can no longer be cancelled"),
        (Status.REJECTED, "was rejected; there is nothing to cancel"),
        (Status.CANCELLED, "is already cancelled"),
    ],
)
def test_cancelling_too_late_is_a_409_with_the_reason_and_changes_nothing(
    customer, customer_api, status, why
):
    order = OrderFactory(customer_id=customer.id, status=status, status_reason="")
    before = Order.objects.values().get(pk=order.pk)

    response = customer_api.post(f"/api/orders/{order.pk}/cancel/", {"reason": "too slow"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == f"order {order.pk} {why}"
    assert response.json()["code"] == "conflict"
    assert Order.objects.values().get(pk=order.pk) == before
    assert outbox_count() == 0


@pytest.mark.django_db(databases=API_DBS)
def test_cancelling_another_customers_order_is_a_404_and_changes_nothing(other_customer, customer_api):
    theirs = OrderFactory(customer_id=other_customer.id)

    response = customer_api.post(f"/api/orders/{theirs.pk}/cancel/", {"reason": "mine now"}, format="json")

    assert response.status_code == 404
    assert Order.objects.get(pk=theirs.pk).status == "PENDING"
    assert outbox_count() == 0


@pytest.mark.django_db(databases=API_DBS)
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"reason": 5}, {"reason": ["Not a valid string."]}),
        ({"reason": "x" * 501}, {"reason": ["Ensure this field has no more than 500 characters."]}),
        (["no"], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_bad_cancel_body_is_a_400_and_changes_nothing(customer, customer_api, body, errors):
    order = OrderFactory(customer_id=customer.id)

    response = customer_api.post(f"/api/orders/{order.pk}/cancel/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert Order.objects.get(pk=order.pk).status == "PENDING"
    assert outbox_count() == 0


@pytest.mark.django_db(databases=DBS)
def test_cancelling_twice_publishes_one_order_cancelled():
    order = OrderFactory()
    services.cancel_order(order_id=order.pk, reason="oops")

    with pytest.raises(services.OrderNotCancellable, match="is already cancelled"):
        services.cancel_order(order_id=order.pk, reason="oops again")

    assert Order.objects.get(pk=order.pk).status_reason == "oops"
    assert len(published(CANCELLED)) == 1


@pytest.mark.django_db(databases=DBS)
def test_cancel_order_refuses_another_customers_order():
    order = OrderFactory(customer_id=1)

    with pytest.raises(services.OrderNotFound):
        services.cancel_order(order_id=order.pk, reason="x", by_customer_id=2)
    with pytest.raises(services.OrderNotFound):
        services.cancel_order(order_id=order.pk + 1, reason="x")
    assert outbox_count() == 0
