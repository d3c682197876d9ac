"""The admin offers only what a service backs, and no page of it is a 500.

Every registered model's changelist, add, change, delete and history page is visited as staff
(the seeded `admin` is a superuser) with data in every table: each answers 200, or 403 where the
admin refuses on purpose (read-only models, no deletes of the event log). Writes it does offer go
through the services and publish their events."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse

from delivery.models import Shipment, ShipmentStatusChange
from events.models import DeadLetter, InboxEntry, OutboxEvent
from tests.factories import create_product, place_order

pytestmark = pytest.mark.django_db(databases="__all__")

# Models that live in every database: their admin pages take ?database=<alias>.
EVERY_DATABASE = {OutboxEvent, InboxEntry, DeadLetter}


@pytest.fixture
def shop_with_history(staff_api, customer_api, anon_api, customer, drain):
    """A product, an order through the whole saga (delivered), a parked dead letter, a group,
    a session logged out (an outstanding and a blacklisted refresh token)."""
    from django.contrib.auth.models import Group

    from delivery import services as delivery

    Group.objects.create(name="support")
    login = {"username": customer.username, "password": "correct-horse-battery"}
    tokens = anon_api.post("/api/auth/token/", login, format="json").json()
    assert (
        anon_api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 204
    )

    product = create_product(staff_api, sku="ADMIN-1", stock=5)
    drain()
    assert place_order(customer_api, [(product, 1)]).status_code == 201
    drain()
    shipment = Shipment.objects.get()
    for _ in range(3):
        delivery.advance_shipment(shipment_id=shipment.pk)
    drain()
    DeadLetter.objects.using("orders").create(
        event_id=uuid.uuid4(),
        handler="orders.on_stock_reserved",
        type="shop.catalog.stock_reserved.v1",
        envelope={"id": str(uuid.uuid4())},
        error="Traceback (most recent call last):\n  ...\nValueError: the handler failed",
        attempts=4,
    )
    return shipment


def _pages():
    """(label, url, allowed statuses) of every page of every registered model."""
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for alias in settings.SERVED_ALIASES if model in EVERY_DATABASE else [None]:
            query = f"?{urlencode({'database': alias})}" if alias else ""
            yield f"{name} changelist {alias or ''}", reverse(f"{name}_changelist") + query, {200}
            yield f"{name} add", reverse(f"{name}_add"), {200, 403}
            objects = model_admin.get_queryset(_request(alias))
            obj = objects.first()
            if obj is None:
                continue
            filters = f"?{urlencode({'_changelist_filters': query[1:]})}" if alias else ""
            for page, allowed in [("change", {200}), ("delete", {200, 403}), ("history", {200})]:
                url = reverse(f"{name}_{page}", args=[obj.pk]) + filters
                yield f"{name} {page} {alias or ''}", url, allowed


def _request(alias):
    from django.test import RequestFactory

    return RequestFactory().get("/", {"database": alias} if alias else {})


def test_every_admin_page_is_a_200_or_a_deliberate_403(admin_client, shop_with_history):
    visited, failures = 0, []
    for label, url, allowed in _pages():
        response = admin_client.get(url)
        visited += 1
        if response.status_code not in allowed:
            failures.append(f"GET {label} {url}: {response.status_code}")

    assert not failures, "\n".join(failures)
    assert visited > 3 * len(admin.site._registry)


def test_posting_an_empty_form_to_any_admin_page_is_never_a_500(admin_client, shop_with_history):
    # Empty forms: a writable model answers with the form's errors, a read-only one with 403;
    # a delete page without the confirmation only asks again. Nothing may change.
    failures = []
    for label, url, _ in _pages():
        if "changelist" in label or "history" in label:
            continue
        response = admin_client.post(url, {})
        if response.status_code not in (200, 403):
            failures.append(f"POST {label} {url}: {response.status_code}")

    assert not failures, "\n".join(failures)


def test_every_table_has_a_row_so_every_change_page_was_visited(shop_with_history):
    empty = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        for alias in (["orders"] if model in EVERY_DATABASE else [None])
        if not model_admin.get_queryset(_request(alias)).exists()
    ]

    assert empty == []


def test_a_shipment_cannot_be_added_edited_or_deleted_in_the_admin(admin_client, shop_with_history):
    shipment = shop_with_history
    before = list(Shipment.objects.values()), list(ShipmentStatusChange.objects.values())

    add = admin_client.post(reverse("admin:delivery_shipment_add"), {"address": "x", "order_id": 9})
    change = admin_client.post(
        reverse("admin:delivery_shipment_change", args=[shipment.pk]), {"address": "elsewhere"}
    )
    delete = admin_client.post(reverse("admin:delivery_shipment_delete", args=[shipment.pk]), {"post": "yes"})
    bulk = admin_client.post(
        reverse("admin:delivery_shipment_changelist"),
        {"action": "delete_selected", "_selected_action": [shipment.pk], "post": "yes"},
    )
    status_change = ShipmentStatusChange.objects.first()
    history = admin_client.post(
        reverse("admin:delivery_shipmentstatuschange_change", args=[status_change.pk]), {"note": "edited"}
    )

    assert (add.status_code, change.status_code, delete.status_code, history.status_code) == (403,) * 4
    assert bulk.status_code in (200, 302)  # "no action selected": delete_selected is not offered
    assert (list(Shipment.objects.values()), list(ShipmentStatusChange.objects.values())) == before


def test_advancing_a_shipment_in_the_admin_goes_through_the_service(
    admin_client, customer_api, staff_api, drain
):
    product = create_product(staff_api, sku="ADMIN-2", stock=5)
    drain()
    place_order(customer_api, [(product, 1)])
    drain()
    shipment = Shipment.objects.get()

    response = admin_client.post(
        reverse("admin:delivery_shipment_changelist"),
        {"action": "advance", "_selected_action": [shipment.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert Shipment.objects.get().status == "PICKED_UP"
    picked_up = OutboxEvent.objects.using("delivery").filter(type="shop.delivery.shipment_picked_up.v1")
    assert [row.envelope["data"]["shipment_id"] for row in picked_up] == [shipment.pk]


@pytest.mark.parametrize("model", [OutboxEvent, InboxEntry, DeadLetter])
def test_the_event_log_inbox_and_dead_letters_cannot_be_deleted(admin_client, shop_with_history, model):
    name = f"admin:events_{model._meta.model_name}"
    rows = model.objects.using("orders")
    before = rows.count()
    first = rows.order_by("id").first()

    changelist = admin_client.get(reverse(f"{name}_changelist") + "?database=orders")
    bulk = admin_client.post(
        reverse(f"{name}_changelist") + "?database=orders",
        {"action": "delete_selected", "_selected_action": [first.pk], "post": "yes"},
    )
    single = admin_client.post(
        reverse(f"{name}_delete", args=[first.pk]) + "?_changelist_filters=database%3Dorders", {"post": "yes"}
    )

    assert b"delete_selected" not in changelist.content
    assert bulk.status_code in (200, 302)
    assert single.status_code == 403
    assert rows.count() == before >= 1


@pytest.mark.parametrize("model", [OutboxEvent, InboxEntry])
def test_outbox_and_inbox_are_listed_newest_first(admin_client, shop_with_history, model):
    response = admin_client.get(
        reverse(f"admin:events_{model._meta.model_name}_changelist") + "?database=orders"
    )

    listed = [obj.pk for obj in response.context["cl"].result_list]
    assert listed == sorted(listed, reverse=True)
    assert len(listed) >= 2


def test_the_site_names_shop_and_view_site_leads_to_the_api_docs(admin_client):
    index = admin_client.get(reverse("admin:index"))

    assert b"shop administration" in index.content
    assert b'href="/api/docs/"' in index.content
    assert admin_client.get("/api/docs/").status_code == 200


@pytest.mark.parametrize(
    "changelist",
    [
        "admin:delivery_shipment_changelist",
        "admin:orders_order_changelist",
        "admin:orders_read_ordersummary_changelist",
    ],
)
def test_orders_and_shipments_show_their_customer_by_name(
    admin_client, customer, shop_with_history, changelist
):
    response = admin_client.get(reverse(changelist))

    assert f"{customer.username} (#{customer.pk})".encode() in response.content


def test_the_read_side_is_listed_as_order_summaries(admin_client):
    index = admin_client.get(reverse("admin:index"))

    assert b"Order summaries" in index.content
    assert b"summarys" not in index.content


def test_a_dead_letter_shows_its_error_in_the_list(admin_client, shop_with_history):
    response = admin_client.get(reverse("admin:events_deadletter_changelist") + "?database=orders")

    assert b"ValueError: the handler failed" in response.content


def test_a_revoked_refresh_token_cannot_be_revived_in_the_admin(admin_client, customer, client_for):
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = str(RefreshToken.for_user(customer))
    assert client_for(None).post("/api/auth/logout/", {"refresh": refresh}, format="json").status_code == 204
    revoked = BlacklistedToken.objects.get()

    delete = admin_client.post(
        reverse("admin:token_blacklist_blacklistedtoken_delete", args=[revoked.pk]), {"post": "yes"}
    )
    add = admin_client.get(reverse("admin:token_blacklist_blacklistedtoken_add"))

    assert (delete.status_code, add.status_code) == (403, 403)
    assert BlacklistedToken.objects.filter(pk=revoked.pk).exists()
    refreshed = client_for(None).post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert refreshed.status_code == 401
