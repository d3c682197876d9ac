"""seed_catalog and the admin both go through the services, so their changes are published."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from catalog import services
from catalog.apps import ALIAS
from catalog.management.commands.seed_catalog import PRODUCTS
from catalog.models import Product
from catalog.tests.factories import ProductFactory
from catalog.tests.helpers import published


@pytest.mark.django_db(databases=[ALIAS])
def test_seeding_creates_demo_products_with_stock_and_publishes_each():
    call_command("seed_catalog", stdout=StringIO())

    assert Product.objects.count() == len(PRODUCTS) >= 30
    assert Product.objects.filter(stock__gt=0).count() >= 30
    created = published(services.PRODUCT_CREATED)
    assert sorted(e["product_id"] for e in created) == sorted(Product.objects.values_list("pk", flat=True))


@pytest.mark.django_db(databases=[ALIAS])
def test_seeding_twice_changes_and_publishes_nothing_the_second_time():
    call_command("seed_catalog", stdout=StringIO())
    before = list(Product.objects.order_by("pk").values())
    events = len(published())

    out = StringIO()
    call_command("seed_catalog", stdout=out)

    assert list(Product.objects.order_by("pk").values()) == before
    assert len(published()) == events
    assert "0 product(s) created" in out.getvalue()


@pytest.fixture
def admin_client(django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "correct-horse-battery")
    client = Client()
    client.force_login(user)
    return client


ADMIN_FORM = {
    "sku": "ADM-1",
    "name": "From the admin",
    "description": "",
    "price": "3.50",
    "currency": "EUR",
    "stock": "4",
    "active": "on",
}


@pytest.mark.django_db(databases=["default", ALIAS])
def test_a_product_added_in_the_admin_is_published(admin_client):
    response = admin_client.post("/admin/catalog/product/add/", ADMIN_FORM)

    assert response.status_code == 302, response.content[:2000]
    product = Product.objects.get(sku="ADM-1")
    assert [e["product_id"] for e in published(services.PRODUCT_CREATED)] == [product.pk]


@pytest.mark.django_db(databases=["default", ALIAS])
def test_a_price_changed_in_the_admin_publishes_price_changed(admin_client):
    product = ProductFactory(sku="ADM-1", price="3.50", stock=4)

    response = admin_client.post(
        f"/admin/catalog/product/{product.pk}/change/", {**ADMIN_FORM, "price": "4.00"}
    )

    assert response.status_code == 302
    (change,) = published(services.PRICE_CHANGED)
    assert (change["old_price"], change["new_price"]) == ("3.50", "4.00")


@pytest.mark.django_db(databases=["default", ALIAS])
def test_the_admin_refuses_a_bad_currency_and_writes_nothing(admin_client):
    response = admin_client.post("/admin/catalog/product/add/", {**ADMIN_FORM, "currency": "eur"})

    assert response.status_code == 200  # the form again, with the error
    assert b"3-letter" in response.content
    assert not Product.objects.exists()
    assert published() == []


@pytest.mark.django_db(databases=["default", ALIAS])
def test_reservations_are_visible_in_the_admin(admin_client):
    product = ProductFactory(stock=3)
    reservation = services.reserve_stock(order_id=77, lines=[(product.pk, 2)]).reservation

    listing = admin_client.get("/admin/catalog/stockreservation/")
    detail = admin_client.get(f"/admin/catalog/stockreservation/{reservation.pk}/change/")

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert product.sku.encode() in detail.content
