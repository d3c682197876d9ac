"""The OpenAPI schema documents every response an operation really returns, errors included.

drf-spectacular documents only the success of each operation. Here every operation also gets
the errors it can answer with, in the one error shape (shop/errors.py), derived from what the
view is made of, so a new view is documented without anyone remembering to:

- 400 when the request carries something to validate: a body, query or header parameters;
- 401 when a token is read (an invalid or expired one is refused, even on public reads), or the
  view checks credentials itself (the token endpoints);
- 403 when a permission goes beyond being signed in (staff only);
- 404 when the path names an object, or the list is paged (an invalid page or cursor);
- 413 and 415 when there is a body (larger than the limit, or not JSON);
- 429 when the view is throttled (with Retry-After);
- 409 where the view declares it (a state that forbids the action), with its own description.

schemathesis (tests/test_api_contract.py) holds the API to this: an undocumented status code
or a body that does not match fails CI.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import permissions, serializers

ERROR_DESCRIPTIONS = {
    400: "Invalid request: `errors` names each field that is wrong (validation), or `detail` says "
    "why the body could not be read.",
    401: "No valid token: missing where one is required, invalid or expired, or its user is no "
    "longer active.",
    403: "Signed in, but not allowed (staff only).",
    404: "No such object (or not one the caller may see), or an invalid page or cursor.",
    409: "The object's current state does not allow this.",
    413: "Request body too large.",
    415: "The body is not JSON (Content-Type: application/json).",
    429: "Too many requests: retry after the number of seconds in Retry-After.",
    503: "Something the operation needs does not answer now.",
}
# Permissions that ask for nothing more than a signed-in caller: they answer 401, never 403.
_SIGNED_IN_ONLY = (permissions.AllowAny, permissions.IsAuthenticated)

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text="What went wrong, for a person."),
        "code": serializers.CharField(help_text="What went wrong, for a program: invalid, not_found, ..."),
        "errors": serializers.DictField(
            required=False,
            help_text="Validation errors only: field name -> list of messages (nested like the body; "
            "`non_field_errors` for the body as a whole).",
        ),
        "request_id": serializers.CharField(
            allow_null=True, help_text="The request's X-Request-ID: quote it to find its logs and events."
        ),
    },
)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema, adding the error responses each operation can answer with."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", ()):
            if parameter["in"] == "query":
                parameter["allowEmptyValue"] = True  # an empty parameter is one not given
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for status in sorted(self.error_statuses(operation)):
            response = responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
            response.setdefault("content", {"application/json": {"schema": error}})
            if status == 429:
                response.setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before trying again.",
                }
        return operation

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            # drf-spectacular leaves out what a nested list refuses: empty, too short, too long.
            if not field.allow_empty:
                schema["minItems"] = max(1, field.min_length or 0)
            elif field.min_length:
                schema["minItems"] = field.min_length
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema

    def error_statuses(self, operation: dict[str, Any]) -> set[int]:
        """The error statuses this operation can answer with (see the module docstring)."""
        view = self.view
        statuses = {int(code) for code in operation["responses"] if str(code)[0] in "45"}
        has_body = "requestBody" in operation
        if has_body or any(p["in"] in ("query", "header") for p in operation.get("parameters", ())):
            statuses.add(400)
        if has_body:
            statuses |= {413, 415}
        if view.get_authenticators() or self._checks_credentials():
            statuses.add(401)
        if any(not isinstance(p, _SIGNED_IN_ONLY) for p in view.get_permissions()):
            statuses.add(403)
        if any(p["in"] == "path" for p in operation.get("parameters", ())) or self._is_paged():
            statuses.add(404)
        if view.get_throttles():
            statuses.add(429)
        return statuses

    def _checks_credentials(self) -> bool:
        from rest_framework_simplejwt.views import TokenViewBase

        return isinstance(self.view, TokenViewBase)

    def _is_paged(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None
