"""Admin pieces every app shares."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """For models that change only through services and events: an edit in the admin would
    bypass the service and publish no event, so the rest of the system would never hear of it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
