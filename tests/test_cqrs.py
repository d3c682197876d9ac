"""The read side rebuilt from the event log equals the one built incrementally, and reads keep
being served from the old generation until the swap."""

import io

import pytest
from django.core.management import call_command

from orders.read.models import SUMMARY_CONTENT, OrderSummary, OrderSummaryProduct
from orders.read.projection import projection_state
from tests.factories import create_product, place_order

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def _monolith_event_log(settings):
    """These tests run the saga in-process (drain), so the log to rebuild from is the outbox,
    whatever EVENTS_TRANSPORT the suite runs with; the Kafka log is tested in tests/integration."""
    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "local"}


def read_side(generation):
    summaries = (
        OrderSummary.objects.filter(generation=generation)
        .order_by("order_id")
        .values("order_id", *SUMMARY_CONTENT)
    )
    products = OrderSummaryProduct.objects.filter(generation=generation).order_by("order_id", "product_id")
    return list(summaries), list(products.values_list("order_id", "product_id", "customer_id", "placed_at"))


def test_a_rebuild_from_the_event_log_equals_the_incrementally_built_read_side(
    staff_api, customer_api, drain
):
    mug = create_product(staff_api, sku="MUG", stock=3)
    tee = create_product(staff_api, sku="TEE", stock=50)
    drain()
    delivered = place_order(customer_api, [(mug, 1), (tee, 2)]).data["id"]
    rejected = place_order(customer_api, [(mug, 10)]).data["id"]
    cancelled = place_order(customer_api, [(tee, 1)]).data["id"]
    customer_api.post(f"/api/orders/{cancelled}/cancel/", {}, format="json")
    drain()

    before = projection_state().active_generation
    incremental = read_side(before)
    assert {s["order_id"]: s["status"] for s in incremental[0]} == {
        delivered: "DELIVERED",
        rejected: "REJECTED",
        cancelled: "CANCELLED",
    }

    out = io.StringIO()
    call_command("rebuild_projections", stdout=out)

    after = projection_state()
    assert after.active_generation == before + 1
    assert after.building_generation is None
    assert read_side(after.active_generation) == incremental
    assert not OrderSummary.objects.filter(generation=before).exists()  # the old one is gone after the swap
    assert "100%" in out.getvalue()
    assert customer_api.get(f"/api/orders/{delivered}/").json()["status"] == "DELIVERED"


def test_a_rebuild_left_behind_by_a_crash_must_be_forced(customer_api, drain):
    from django.core.management.base import CommandError

    from orders.read.models import ProjectionState

    projection_state()
    ProjectionState.objects.update(building_generation=9)
    with pytest.raises(CommandError, match="--force"):
        call_command("rebuild_projections", stdout=io.StringIO())
    call_command("rebuild_projections", "--force", stdout=io.StringIO())
    assert projection_state().building_generation is None
