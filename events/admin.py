"""Outbox, inbox and dead letters of every database, side by side in one admin.

These models live in every app database, so each changelist has a "database" filter and every
query is sent explicitly to the chosen alias. Dead letters can be replayed from here.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from django.conf import settings
from django.contrib import admin, messages

from events.consumer import replay
from events.models import DeadLetter, InboxEntry, OutboxEvent
from events.registry import get_handler


def _database(request) -> str:
    alias = request.GET.get("database")
    if alias is None:  # change views carry the changelist's filters along
        alias = parse_qs(request.GET.get("_changelist_filters", "")).get("database", [None])[0]
    return alias if alias in settings.SERVED_ALIASES else settings.SERVED_ALIASES[0]


class DatabaseFilter(admin.SimpleListFilter):
    title = "database"
    parameter_name = "database"

    def lookups(self, request, model_admin):
        return [(alias, alias) for alias in settings.SERVED_ALIASES]

    def value(self):
        return super().value() or settings.SERVED_ALIASES[0]

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        return queryset  # get_queryset already chose the database


class PerDatabaseAdmin(admin.ModelAdmin):
    list_filter = [DatabaseFilter]

    def get_queryset(self, request):
        return super().get_queryset(request).using(_database(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(PerDatabaseAdmin):
    list_display = ["id", "type", "key", "topic", "created_at", "published_at"]
    list_filter = [DatabaseFilter, ("published_at", admin.EmptyFieldListFilter), "type"]
    search_fields = ["key", "type", "event_id"]


@admin.register(InboxEntry)
class InboxEntryAdmin(PerDatabaseAdmin):
    list_display = ["id", "type", "handler", "event_id", "processed_at"]
    list_filter = [DatabaseFilter, "handler"]
    search_fields = ["event_id", "handler"]


@admin.register(DeadLetter)
class DeadLetterAdmin(PerDatabaseAdmin):
    list_display = ["id", "type", "handler", "status", "attempts", "parked_at", "replayed_at"]
    list_filter = [DatabaseFilter, "status", "handler"]
    search_fields = ["event_id", "handler", "error"]
    actions = ["replay_selected"]

    @admin.action(description="Replay selected dead letters (applies each at most once)")
    def replay_selected(self, request, queryset):
        done = failed = 0
        for dead_letter in queryset.filter(status=DeadLetter.Status.PARKED):
            try:
                replay(dead_letter, get_handler(dead_letter.handler))
                done += 1
            except Exception as exc:
                failed += 1
                self.message_user(request, f"{dead_letter}: {exc}", messages.ERROR)
        self.message_user(request, f"replayed {done}, still failing {failed}")
