"""Outbox, inbox and dead letters of every database, side by side in one admin.

These models live in every app database, so each changelist has a "database" filter and every
query is sent explicitly to the chosen alias. Newest first. Nothing here can be added, edited or
deleted: the outbox is the event log (the monolith rebuilds its read side from it), the inbox is
what keeps a redelivered event from applying twice, and a dead letter is an event not applied
yet. Dead letters can be replayed from here (through the inbox: at most once).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.text import Truncator

from events.inbox.dead_letters import replay
from events.models import DeadLetter, InboxEntry, OutboxEvent
from events.registry import get_handler
from events.settings import events_settings


def _database(request) -> str:
    alias = request.GET.get("database")
    if alias is None:  # change views carry the changelist's filters along
        alias = parse_qs(request.GET.get("_changelist_filters", "")).get("database", [None])[0]
    served = events_settings.served_databases()
    return alias if alias in served else served[0]


class DatabaseFilter(admin.SimpleListFilter):
    title = "database"
    parameter_name = "database"

    def lookups(self, request, model_admin):
        return [(alias, alias) for alias in events_settings.served_databases()]

    def value(self):
        return super().value() or events_settings.served_databases()[0]

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

    def has_delete_permission(self, request, obj=None):
        return False

    # Django wraps a POST to these views in a transaction on the model's database, which these
    # models do not have (the router refuses to guess): refuse before it asks.
    def changeform_view(self, request, *args, **kwargs):
        _refuse_writes(request)
        return super().changeform_view(request, *args, **kwargs)

    def delete_view(self, request, *args, **kwargs):
        _refuse_writes(request)
        return super().delete_view(request, *args, **kwargs)


def _refuse_writes(request) -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        raise PermissionDenied


@admin.register(OutboxEvent)
class OutboxEventAdmin(PerDatabaseAdmin):
    list_display = ["id", "type", "key", "created_at", "published_at"]
    list_filter = [DatabaseFilter, ("published_at", admin.EmptyFieldListFilter), "type"]
    search_fields = ["key", "type", "event_id"]
    ordering = ["-id"]


@admin.register(InboxEntry)
class InboxEntryAdmin(PerDatabaseAdmin):
    list_display = ["id", "type", "handler", "processed_at"]
    list_filter = [DatabaseFilter, "handler"]
    search_fields = ["event_id", "handler"]
    ordering = ["-id"]


@admin.register(DeadLetter)
class DeadLetterAdmin(PerDatabaseAdmin):
    list_display = ["id", "type", "handler", "status", "attempts", "short_error", "parked_at", "replayed_at"]
    list_filter = [DatabaseFilter, "status", "handler"]
    search_fields = ["event_id", "handler", "error"]
    ordering = ["-id"]
    actions = ["replay_selected"]

    @admin.display(description="error")
    def short_error(self, dead_letter: DeadLetter) -> str:
        last_line = dead_letter.error.strip().splitlines()[-1:] or [""]
        return Truncator(last_line[0]).chars(80)

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
