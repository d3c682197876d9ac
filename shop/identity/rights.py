"""Every change of a user's rights is announced to the services without the user table.

The services that authenticate with the public key alone (catalog, orders, delivery) keep a
replica of users' rights (shop/rights), so a deactivation, deletion, staff demotion or password
change reaches them within the event's replication lag, not at the token's expiry. The event,
shop.identity.user_rights_changed.v1, is published through the outbox, in the transaction of
the change, from one catch-all place: the user model's signals. Every write path saves or
deletes the model (the admin, sign-up, `manage.py changepassword`, createsuperuser, a shell),
so none can forget it; only a queryset .update() or raw SQL bypasses signals — nothing in the
project writes users that way.

What is published: the rights after the change, in full, with a version from a per-user counter
(RightsVersion) that orders the changes. Not published: a creation (the new user's tokens say
everything; no replica row means the token's claims decide) and a save that changes none of
is_active, is_staff, password (a login's last_login update).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.db.models.signals import post_delete, post_save, pre_save

from events import publish
from shop.event_types import USER_RIGHTS_CHANGED
from shop.identity.models import RightsVersion
from shop.identity.services import password_fingerprint

# The user's fields a token's validity depends on.
RIGHTS_FIELDS = ("is_active", "is_staff", "password")
# The rights a save started from, kept on the instance between pre_save and post_save.
_BEFORE = "_rights_before_save"


def connect() -> None:
    """Called by IdentityConfig.ready(): watch the user model's writes."""
    user_model = get_user_model()
    pre_save.connect(_remember_rights, sender=user_model, dispatch_uid="identity-rights-pre-save")
    post_save.connect(_announce_change, sender=user_model, dispatch_uid="identity-rights-post-save")
    post_delete.connect(_announce_deletion, sender=user_model, dispatch_uid="identity-rights-post-delete")


def _rights(user: Any) -> tuple[bool, bool, str]:
    return (bool(user.is_active), bool(user.is_staff), user.password)


def _remember_rights(sender, instance, using: str, update_fields=None, **kwargs: Any) -> None:
    """The rights as stored before this save (nothing for a creation, or a save of other fields
    only). Inside a transaction the row is locked as it is read, so two concurrent saves are
    compared each with what the other committed, and none of their changes goes unannounced."""
    instance.__dict__.pop(_BEFORE, None)
    if instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(RIGHTS_FIELDS) & set(update_fields):
        return  # a login's last_login: no query, no event
    rows = sender._default_manager.db_manager(using).filter(pk=instance.pk)
    if connections[using].in_atomic_block:
        rows = rows.select_for_update()
    before = rows.values_list(*RIGHTS_FIELDS).first()
    if before is not None:
        instance.__dict__[_BEFORE] = (bool(before[0]), bool(before[1]), before[2])


def _announce_change(sender, instance, created: bool, using: str, **kwargs: Any) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if created or before is None or before == _rights(instance):
        return
    _publish(
        instance.pk,
        is_active=bool(instance.is_active),
        is_staff=bool(instance.is_staff),
        password_fingerprint=password_fingerprint(instance),
        using=using,
    )


def _announce_deletion(sender, instance, using: str, **kwargs: Any) -> None:
    # The deletion's collector runs this inside its own transaction: the event commits with it.
    _publish(instance.pk, is_active=False, is_staff=False, password_fingerprint="", using=using)


def _publish(user_id: int, *, is_active: bool, is_staff: bool, password_fingerprint: str, using: str) -> None:
    """The event with the next version, in the caller's transaction. A save outside any (manage.py
    changepassword, a shell) has committed already: its event follows in a transaction of its
    own, and only a crash between the two loses it (the token's expiry still bounds the rest)."""
    with transaction.atomic(using=using, savepoint=False):
        publish(
            USER_RIGHTS_CHANGED,
            key=user_id,
            data={
                "user_id": user_id,
                "version": _next_version(user_id, using),
                "is_active": is_active,
                "is_staff": is_staff,
                "password_fingerprint": password_fingerprint,
            },
            using=using,
        )


def _next_version(user_id: int, using: str) -> int:
    """Raise the user's counter and return it: one UPSERT (Postgres and SQLite alike), under the
    row lock that also serializes the user's saves."""
    connection = connections[using]
    table = connection.ops.quote_name(RightsVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, version) VALUES (%s, 1)"
            f" ON CONFLICT (user_id) DO UPDATE SET version = {table}.version + 1 RETURNING version",
            [user_id],
        )
        return int(cursor.fetchone()[0])
