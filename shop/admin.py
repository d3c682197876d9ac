"""Admin pieces every app shares, and the admin site's own name and links.

The admin offers only what a service backs: models that change through services and events are
read-only here (ReadOnlyAdminMixin), and the few writes it offers (a product edit, cancelling an
order, advancing a shipment, replaying a dead letter) call the same service the API calls, so
they publish the same events.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import admin, messages

admin.site.site_header = "shop administration"
admin.site.site_title = "shop admin"
admin.site.index_title = "catalog, orders, delivery and their events"
# "View site": the API's interactive documentation (the shop has no storefront of its own).
admin.site.site_url = "/api/docs/"


class ReadOnlyAdminMixin:
    """For models that change only through services and events: an edit in the admin would
    bypass the service and publish no event, so the rest of the system would never hear of it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def act_on_each(
    model_admin: admin.ModelAdmin,
    request,
    queryset,
    command: Callable[[int], object],
    *,
    refusal: type[Exception],
    done: str,
    name: str = "",
) -> None:
    """The body of an admin action that writes through a service: `command(pk)` for each selected
    row (each in the service's own transaction). A row the service refuses (`refusal`) is a warning,
    prefixed "<name> <pk>: " when `name` is given, and the others go on; then `done`, formatted with
    how many succeeded."""
    succeeded = 0
    for pk in queryset.values_list("pk", flat=True):
        try:
            command(pk)
            succeeded += 1
        except refusal as exc:
            model_admin.message_user(request, f"{name} {pk}: {exc}" if name else str(exc), messages.WARNING)
    model_admin.message_user(request, done.format(succeeded), messages.SUCCESS)


class CustomerColumnMixin:
    """A `customer` column: the customer's username where this process has the users' database
    (the monolith), else the id, labelled as one. Names are read once per page, not per row."""

    customer_field = "customer_id"

    @admin.display(description="customer" if "default" in settings.SERVED_ALIASES else "customer id")
    def customer(self, obj) -> str:
        customer_id = getattr(obj, self.customer_field)
        name = getattr(obj, "_customer_name", None)
        return f"{name} (#{customer_id})" if name else str(customer_id or "—")

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)
        field = self.customer_field

        class WithCustomerNames(base):
            def get_results(self, request):
                super().get_results(request)
                _attach_customer_names(self.result_list, field)

        return WithCustomerNames


def _attach_customer_names(objects, field: str) -> None:
    if "default" not in settings.SERVED_ALIASES:
        return
    from django.contrib.auth import get_user_model

    ids = {getattr(obj, field) for obj in objects} - {None}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    for obj in objects:
        obj._customer_name = names.get(getattr(obj, field))
