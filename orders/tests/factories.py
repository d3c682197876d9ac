"""Factories for orders' models (all in the `orders` database)."""

from __future__ import annotations

from decimal import Decimal

import factory

from orders.models import Order, OrderLine, ProductSnapshot


class ProductSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductSnapshot
        database = "orders"

    product_id = factory.Sequence(lambda n: n + 1)
    sku = factory.LazyAttribute(lambda o: f"SKU-{o.product_id}")
    name = factory.LazyAttribute(lambda o: f"Product {o.product_id}")
    price = Decimal("10.00")
    currency = "EUR"
    active = True


class OrderFactory(factory.django.DjangoModelFactory):
    """An order as it stands after being placed (lines: see OrderLineFactory / with_line)."""

    class Meta:
        model = Order
        database = "orders"
        skip_postgeneration_save = True

    customer_id = factory.Sequence(lambda n: 1000 + n)
    status = Order.Status.PENDING
    currency = "EUR"
    total = Decimal("10.00")
    shipping_address = "1 Main Street, Springfield"

    @factory.post_generation
    def with_line(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            OrderLineFactory(order=obj, unit_price=obj.total, quantity=1)


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine
        database = "orders"

    order = factory.SubFactory(OrderFactory, with_line=False)
    product_id = factory.Sequence(lambda n: n + 1)
    sku = factory.LazyAttribute(lambda o: f"SKU-{o.product_id}")
    name = factory.LazyAttribute(lambda o: f"Product {o.product_id}")
    unit_price = Decimal("10.00")
    quantity = 1
