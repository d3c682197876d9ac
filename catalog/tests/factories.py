"""Factories for catalog models. They write rows directly (no events): use the services when
a test is about what gets published."""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from catalog.apps import ALIAS
from catalog.models import Product


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product
        database = ALIAS  # factory-boy would otherwise write to "default"

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Faker("catch_phrase")
    description = factory.Faker("sentence")
    price = factory.Faker(
        "pydecimal", left_digits=3, right_digits=2, min_value=Decimal("0.50"), max_value=Decimal("500")
    )
    currency = "EUR"
    stock = 10
    active = True
