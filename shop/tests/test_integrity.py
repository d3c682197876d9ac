"""A constraint the database refuses never ends in a 500: the loser of a race for a unique
value gets the 400 a sequential duplicate gets, anything else refused by a constraint a 409 —
on SQLite and on Postgres, whose drivers say it differently (shop/integrity.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from catalog.models import Product
from shop import integrity
from shop.api import integrity_error
from shop.tests.race import at_once

pytestmark = pytest.mark.django_db(databases=["default", "catalog"])


def _violation(create) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught, transaction.atomic(using="catalog"):
        create()
    return caught.value


def _product(**fields) -> Product:
    return Product.objects.create(**{"sku": "MUG-1", "name": "Mug", "price": "1.00", **fields})


def test_a_unique_column_violation_names_its_table_and_column():
    _product()
    violation = integrity.describe(_violation(lambda: _product(name="Another")))
    assert (violation.kind, violation.table, violation.columns) == ("unique", "catalog_product", ("sku",))


def test_a_unique_expression_index_violation_names_the_index():
    User = get_user_model()
    User.objects.create_user(username="ann", email="ann@example.com")
    with pytest.raises(IntegrityError) as caught, transaction.atomic(using="default"):
        User.objects.create_user(username="ANN", email="x@example.com")
    violation = integrity.describe(caught.value)
    assert (violation.kind, violation.constraint) == ("unique", "identity_username_ci_uniq")


def test_a_check_violation_is_a_conflict_not_a_duplicate():
    violation = integrity.describe(_violation(lambda: _product(price="-1.00")))
    assert violation.kind == "check"
    error = integrity_error(_violation(lambda: _product(price="-1.00")))
    assert (error.status_code, error.default_code) == (409, "conflict")


def test_a_unique_violation_becomes_the_field_error_drf_would_have_given():
    _product()
    error = integrity_error(_violation(lambda: _product(name="Another")))
    assert error.status_code == 400
    assert error.detail == {"sku": ["product with this sku already exists."]}
    assert error.detail["sku"][0].code == "unique"


@pytest.mark.django_db(databases=["default", "catalog"], transaction=True)
def test_racing_creates_of_one_sku_get_one_product_and_the_sequential_400(staff, client_for):
    body = {
        "sku": "RACE-1",
        "name": "Racer",
        "description": "",
        "price": "1.00",
        "currency": "EUR",
        "stock": 1,
    }

    responses = at_once([lambda: client_for(staff).post("/api/catalog/products/", body, format="json")] * 6)

    assert sorted(r.status_code for r in responses) == [201] + [400] * 5, [r.content for r in responses]
    assert Product.objects.filter(sku="RACE-1").count() == 1
    sequential = client_for(staff).post("/api/catalog/products/", body, format="json")
    for r in responses:
        if r.status_code == 400:
            assert r.json()["errors"] == sequential.json()["errors"]


@pytest.mark.django_db(databases=["default", "catalog"], transaction=True)  # autocommit, as served
def test_the_api_answers_an_unhandled_integrity_error_in_the_shape(monkeypatch, staff, client_for):
    """The net under any service that lets one through: a JSON 400/409, never a 500."""
    from catalog.api import views

    _product()

    def create_without_checking(**fields):
        return Product.objects.create(**{k: v for k, v in fields.items() if k != "active"})

    monkeypatch.setattr(views.services, "create_product", create_without_checking)
    body = {"sku": "MUG-1", "name": "Dup", "description": "", "price": "1.00", "currency": "EUR", "stock": 1}

    response = client_for(staff).post("/api/catalog/products/", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"sku": ["product with this sku already exists."]}
    assert APIClient().get("/api/catalog/products/").status_code == 200  # the connection is fine
