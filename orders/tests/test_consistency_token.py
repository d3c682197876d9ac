"""X-Consistency-Token: a read waits for the caller's own write, and for nothing else.

A write's token is its event signed for the caller (orders/api/consistency.py). A read with one
of the caller's tokens waits until the read side has applied it (or says "stale" after the
wait); a made-up token, or one handed to someone else, is answered at once with "unknown" —
these tests set a long wait, so a read that waited would both take it and answer "stale"."""

import pytest

from orders.api import consistency
from orders.tests.helpers import API_DBS, project_published

pytestmark = pytest.mark.django_db(databases=API_DBS)

BODY = {"lines": [{"product_id": 1, "quantity": 1}], "shipping_address": "1 Main St"}


@pytest.fixture
def token_of_a_placed_order(customer_api):
    from orders.models import ProductSnapshot

    ProductSnapshot.objects.create(product_id=1, sku="S", name="Mug", price="10.00", currency="EUR")
    placed = customer_api.post("/api/orders/", BODY, format="json")
    assert placed.status_code == 201
    return placed["X-Consistency-Token"]


def _read(api, token):
    return api.get("/api/orders/", HTTP_X_CONSISTENCY_TOKEN=token)


def test_the_callers_own_token_is_waited_for_and_applied(customer_api, token_of_a_placed_order):
    project_published()

    response = _read(customer_api, token_of_a_placed_order)

    assert response["X-Consistency"] == "applied"
    assert len(response.json()["results"]) == 1


def test_the_callers_own_token_not_applied_yet_is_stale_after_the_wait(
    customer_api, token_of_a_placed_order, settings
):
    settings.ORDERS_READ_YOUR_WRITES_TIMEOUT = 0.2

    assert _read(customer_api, token_of_a_placed_order)["X-Consistency"] == "stale"


@pytest.mark.parametrize(
    "made_up",
    [
        "1f0e0b7c-0000-4000-8000-000000000000:forged",
        "1f0e0b7c-0000-4000-8000-000000000000:" + "A" * 27,
    ],
)
def test_a_made_up_token_is_answered_at_once(customer_api, token_of_a_placed_order, settings, made_up):
    settings.ORDERS_READ_YOUR_WRITES_TIMEOUT = 60  # waiting would be seen

    response = _read(customer_api, made_up)

    assert response.status_code == 200
    assert response["X-Consistency"] == "unknown"


def test_another_customers_token_is_answered_at_once(other_api, token_of_a_placed_order, settings):
    settings.ORDERS_READ_YOUR_WRITES_TIMEOUT = 60

    response = _read(other_api, token_of_a_placed_order)

    assert response["X-Consistency"] == "unknown"
    assert response.json()["results"] == []


def test_a_real_event_id_without_its_signature_is_answered_at_once(
    customer_api, token_of_a_placed_order, settings
):
    settings.ORDERS_READ_YOUR_WRITES_TIMEOUT = 60
    event_id = token_of_a_placed_order.split(":")[0]

    response = _read(customer_api, consistency.issue(event_id, user_id=999_999))

    assert response["X-Consistency"] == "unknown"


@pytest.mark.parametrize("malformed", ["nope", "1f0e0b7c-0000-4000-8000-000000000000", "a:b", "%00"])
def test_a_token_of_no_tokens_shape_is_a_400(customer_api, malformed):
    response = _read(customer_api, malformed)

    assert response.status_code == 400
    assert "X-Consistency-Token" in response.json()["errors"]
