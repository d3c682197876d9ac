"""/metrics is for the scraper and staff only; what must survive a restart (parked dead letters,
outbox backlog, projection lag) is read from the databases at every scrape."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from events.models import DeadLetter
from tests.factories import create_product, place_order

pytestmark = pytest.mark.django_db(databases="__all__")
SCRAPER_TOKEN = "s" * 40


@pytest.fixture
def scraper(settings) -> Client:
    settings.SHOP_METRICS_TOKEN = SCRAPER_TOKEN
    return Client(HTTP_AUTHORIZATION=f"Bearer {SCRAPER_TOKEN}")


def value(text: str, metric: str, **labels: str) -> float | None:
    """The sample of `metric` with exactly these labels in a Prometheus text page (None: absent)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{metric}\{{(.*)\}} (\S+)", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match[1])) == labels:
            return float(match[2])
    return None


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_metrics_are_not_public(settings, anon_api, customer_api):
    settings.SHOP_METRICS_TOKEN = SCRAPER_TOKEN
    anonymous = anon_api.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert Client(HTTP_AUTHORIZATION="Bearer " + "x" * 40).get("/metrics").status_code == 401
    assert customer_api.get("/metrics").status_code == 403


def test_the_scraper_with_its_token_and_staff_may_read_them(scraper, staff_api, admin_client):
    assert "shop_outbox_backlog" in scrape(scraper)
    assert "shop_outbox_backlog" in scrape(staff_api)
    assert "shop_outbox_backlog" in scrape(admin_client)  # the admin's session, on identity


def test_without_a_configured_token_no_bearer_opens_them(settings):
    settings.SHOP_METRICS_TOKEN = ""
    assert Client(HTTP_AUTHORIZATION="Bearer ").get("/metrics").status_code == 401


def _park(handler: str) -> DeadLetter:
    return DeadLetter.objects.using("orders").create(
        event_id=uuid.uuid4(),
        handler=handler,
        type="shop.catalog.stock_reserved.v1",
        envelope={},
        error="boom",
    )


def test_parked_dead_letters_are_read_from_the_database_at_each_scrape(scraper):
    # Parked by "another process" (or before a restart): this process never counted them.
    first, _ = _park("orders.on_stock_reserved"), _park("orders.on_stock_reserved")
    assert (
        value(
            scrape(scraper), "shop_dead_letters_parked", database="orders", handler="orders.on_stock_reserved"
        )
        == 2
    )

    first.status = DeadLetter.Status.REPLAYED
    first.save(using="orders")
    assert (
        value(
            scrape(scraper), "shop_dead_letters_parked", database="orders", handler="orders.on_stock_reserved"
        )
        == 1
    )

    DeadLetter.objects.using("orders").update(status=DeadLetter.Status.REPLAYED)
    assert (
        value(
            scrape(scraper), "shop_dead_letters_parked", database="orders", handler="orders.on_stock_reserved"
        )
        == 0
    )


def test_projection_lag_is_sampled_at_each_scrape(scraper, settings, staff_api, customer_api, drain):
    # drain() relays in-process, so the lag is the in-process transport's (unrelayed events);
    # over Kafka it is the consumer group's (tests/integration measure that one).
    settings.EVENTS = {**settings.EVENTS, "TRANSPORT": "local"}
    product = create_product(staff_api, sku="LAG-1")
    drain()
    assert place_order(customer_api, [(product, 1)]).status_code == 201  # not relayed yet

    behind = value(scrape(scraper), "shop_projection_lag_events", projection="order_summary")
    assert behind is not None
    assert behind >= 1

    drain()
    assert value(scrape(scraper), "shop_projection_lag_events", projection="order_summary") == 0
    assert value(scrape(scraper), "shop_outbox_backlog", database="orders") == 0
