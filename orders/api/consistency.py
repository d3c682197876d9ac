"""Consistency tokens: which of the caller's writes a read may wait for (read your writes).

A write answers with the id of the event it caused, signed for the caller:
`<event id>:<signature>` (django.core.signing, salted per user). A read that sends it back
waits until the read side has applied that event. The signature is checked first, without
touching any database: a made-up token, or one handed to someone else, cannot be one of the
caller's events, and is answered at once (X-Consistency: unknown), never waited for. A token
that is not even of that shape is a 400.
"""

from __future__ import annotations

import re

from django.core import signing

HEADER = "X-Consistency-Token"
PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[A-Za-z0-9_-]{1,100}$"
_SHAPE = re.compile(PATTERN)


class MalformedToken(ValueError):
    """Not something a write could have returned."""


def _signer(user_id: int) -> signing.Signer:
    return signing.Signer(salt=f"orders.consistency-token.{user_id}")


def issue(event_id: str, *, user_id: int) -> str:
    """The token for `event_id`, good only for `user_id`."""
    return _signer(user_id).sign(str(event_id))


def event_of(token: str, *, user_id: int) -> str | None:
    """The event id in `token` if it was issued to `user_id`, else None (made up, or someone
    else's). Raises MalformedToken if it is not of a token's shape at all."""
    if not _SHAPE.fullmatch(token):
        raise MalformedToken(token)
    try:
        return _signer(user_id).unsign(token)
    except signing.BadSignature:
        return None
