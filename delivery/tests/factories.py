"""Factories for delivery's tests. Models are written to the `delivery` alias explicitly:
factory-boy would otherwise call .using("default"), which bypasses the router."""

from __future__ import annotations

import factory

from delivery.models import Shipment, ShipmentStatus, ShipmentStatusChange
from events import Event
from events.testing import event

# The statuses a shipment went through to reach each status (its history, in order).
PATH_TO: dict[str, list[str]] = {
    ShipmentStatus.CREATED: [ShipmentStatus.CREATED],
    ShipmentStatus.PICKED_UP: [ShipmentStatus.CREATED, ShipmentStatus.PICKED_UP],
    ShipmentStatus.IN_TRANSIT: [ShipmentStatus.CREATED, ShipmentStatus.PICKED_UP, ShipmentStatus.IN_TRANSIT],
    ShipmentStatus.DELIVERED: [
        ShipmentStatus.CREATED,
        ShipmentStatus.PICKED_UP,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.DELIVERED,
    ],
    ShipmentStatus.CANCELLED: [ShipmentStatus.CREATED, ShipmentStatus.CANCELLED],
}


class ShipmentFactory(factory.django.DjangoModelFactory):
    """A shipment in `status` with the history that leads there (no events: test setup only)."""

    class Meta:
        model = Shipment
        database = "delivery"
        skip_postgeneration_save = True

    order_id = factory.Sequence(lambda n: 1000 + n)
    customer_id = factory.Sequence(lambda n: 5000 + n)
    address = factory.Faker("address")
    status = ShipmentStatus.CREATED

    @factory.post_generation
    def history(self, create, extracted, **kwargs):
        if not create:
            return
        for status in PATH_TO[self.status]:
            ShipmentStatusChange.objects.create(shipment=self, status=status)


_order_ids = iter(range(70_000, 10**9))


def order_confirmed(
    *, order_id: int | None = None, customer_id: int = 7, address: str = "1 Main St"
) -> Event:
    """orders' `order_confirmed` as delivery consumes it (a new order id unless given)."""
    order_id = order_id if order_id is not None else next(_order_ids)
    return event(
        "shop.orders.order_confirmed.v1",
        order_id,
        order_id=order_id,
        customer_id=customer_id,
        shipping_address=address,
    )


def order_cancelled(*, order_id: int, reason: str = "customer asked") -> Event:
    return event("shop.orders.order_cancelled.v1", order_id, order_id=order_id, reason=reason)
