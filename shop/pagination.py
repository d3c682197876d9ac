"""How every list of the API is paged, seen the same way by a client whichever list it reads.

- An empty query parameter is one not given (`?page_size=` is the default size), as for filters.
- `?page_size=N` is honoured from 1 to MAX_PAGE_SIZE on every list, or refused with a 400 that
  says so: never silently replaced by the default (or clamped) while the `next` link carries
  the value along as if it had been used.
- Page-numbered lists (products, shipments: small, and a count is useful) take `?page=N`; a page
  past the end is a 404 "Invalid page.".
- Cursor lists (orders: any size, no COUNT, no OFFSET) take the opaque `?cursor=` of a `next` or
  `previous` link; a cursor that was not made by the server (undecodable, or a position that is
  not a value of the sort key) is a 404 "Invalid cursor", never a database error.
"""

from __future__ import annotations

import base64
from urllib import parse

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as ApiValidationError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class _PageSize:
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_size_query_description = f"Results per page: 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:  # absent or empty: an empty query parameter is one not given, on every list
            return self.page_size
        size = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
        if not 1 <= size <= self.max_page_size:
            message = f"A whole number from 1 to {self.max_page_size}."
            raise ApiValidationError({self.page_size_query_param: [message]})
        return size

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
            elif parameter["name"] == getattr(self, "page_query_param", None):
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class NumberedPages(_PageSize, pagination.PageNumberPagination):
    """`?page=N&page_size=M`; the answer has `count`, `next`, `previous` and `results`."""


class CursorPages(_PageSize, pagination.CursorPagination):
    """`?cursor=...&page_size=M` (the cursor from a `next`/`previous` link); the answer has
    `next`, `previous` and `results`. Subclasses set `ordering` (unique, indexed)."""

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        # The field the cursor's position is a value of: the first ordering key.
        self._position_field = _field_of(queryset, self.get_ordering(request, queryset, view)[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request) -> pagination.Cursor | None:
        """The cursor of the request, exactly as encode_cursor() writes one, or a 404.

        Stricter than DRF's: junk that decodes to nothing is not taken for the first page (the
        server never writes an empty cursor: a `next` link has a position), an
        offset beyond the cutoff is not clamped, and the position must be a value of the sort
        key — a forged one would otherwise reach the database as a filter value."""
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        try:
            text = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            tokens = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True)
            if not tokens or set(tokens) - {"o", "r", "p"} or any(len(v) != 1 for v in tokens.values()):
                raise ValueError("empty, or an unknown or repeated field")
            offset = int(tokens.get("o", ["0"])[0])
            if not 0 <= offset <= self.offset_cutoff:
                raise ValueError("offset out of range")
            reverse = {"0": False, "1": True}[tokens.get("r", ["0"])[0]]
            position = tokens.get("p", [None])[0]
            if position is not None:
                if "\x00" in position:
                    raise ValueError("NUL in position")
                self._position_field.to_python(position)
        except (ValueError, KeyError, TypeError, OverflowError, ValidationError):
            raise NotFound(self.invalid_cursor_message)
        return pagination.Cursor(offset=offset, reverse=reverse, position=position)


def _field_of(queryset: QuerySet, name: str) -> Field:
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    try:
        return queryset.model._meta.get_field(name)
    except FieldDoesNotExist:
        raise LookupError(f"{queryset.model.__name__} cannot be paged by {name!r}") from None
