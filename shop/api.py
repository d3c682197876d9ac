"""Pieces every service's API shares: the error format (shop/errors.py) for DRF, and permissions."""

from __future__ import annotations

from typing import Any

from django.apps import apps as django_apps
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.utils.field_mapping import get_unique_error_message
from rest_framework.validators import UniqueTogetherValidator, UniqueValidator
from rest_framework.views import exception_handler as drf_exception_handler

from shop import errors, integrity


class Conflict(exceptions.APIException):
    """The request is valid but the resource's state forbids it (e.g. cancelling a shipped order)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource's current state does not allow this."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    """Something this request needs (a broker) does not answer now; trying again later may work."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable."
    default_code = "service_unavailable"


def exception_handler(exc, context):
    """DRF's handler (status, headers such as Retry-After and WWW-Authenticate, rollback), with
    the body in the one error shape. Returns None for what is not an API error (a bug), which
    then reaches ApiErrorMiddleware and becomes a logged JSON 500."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, IntegrityError):
        exc = integrity_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = _shape(exc, context["request"])
    return response


def integrity_error(exc: IntegrityError) -> exceptions.APIException:
    """A constraint the database refused, as the API error a check before the write would have
    given. Services check first and say it better; this is the net under every race they lose
    (two requests pass the check, one INSERT wins): a unique violation on known fields is the
    400 a sequential duplicate gets ("<model> with this <field> already exists."), anything else
    a 409 — never a 500."""
    violation = integrity.describe(exc)
    if violation.kind == "unique":
        found = _unique_fields(violation)
        if found is not None:
            model, fields = found
            # The messages DRF's own validators give a sequential duplicate.
            if len(fields) == 1:
                key = fields[0]
                message = get_unique_error_message(model._meta.get_field(key)) or UniqueValidator.message
            else:
                key = api_settings.NON_FIELD_ERRORS_KEY
                message = UniqueTogetherValidator.message.format(field_names=", ".join(fields))
            return exceptions.ValidationError({key: [exceptions.ErrorDetail(str(message), code="unique")]})
    return Conflict("The request conflicts with the current state of the data; reload and try again.")


def _unique_fields(violation: integrity.Violation):
    """(model, field names) of the unique constraint a violation names, if a model declares it."""
    for model in django_apps.get_models():
        if model._meta.db_table != violation.table and violation.table:
            continue
        by_column = {f.column: f.name for f in model._meta.concrete_fields}
        if violation.table and violation.columns and all(c in by_column for c in violation.columns):
            return model, [by_column[c] for c in violation.columns]
        for constraint in model._meta.constraints:
            if getattr(constraint, "name", None) == violation.constraint and getattr(
                constraint, "fields", ()
            ):
                return model, list(constraint.fields)
    return None


def _shape(exc: exceptions.APIException, request) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail
        if not isinstance(fields, dict):
            fields = {api_settings.NON_FIELD_ERRORS_KEY: fields}
        return errors.payload(request, detail=_summary(fields), code="invalid", errors=fields)
    detail: Any = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    if isinstance(detail, dict):
        # simplejwt's token errors: {"detail": ..., "code": ..., "messages": [per token class]}.
        code = str(detail.get("code") or exc.default_code)
        detail = detail.get("detail") or exc.default_detail
    elif isinstance(detail, list):
        detail = " ".join(str(d) for d in detail) or exc.default_detail
    return errors.payload(request, detail=str(detail), code=str(code))


def _summary(fields: Any, prefix: str = "") -> str:
    """The first message of a validation error, with the field it belongs to: 'email: ...'."""
    if isinstance(fields, dict):
        for key, value in fields.items():
            name = "" if key == api_settings.NON_FIELD_ERRORS_KEY else f"{prefix}{key}"
            found = _summary(value, f"{name}." if name else "")
            if found:
                return found
        return ""
    if isinstance(fields, list):
        for index, value in enumerate(fields):
            nested = isinstance(value, dict | list)
            found = _summary(value, f"{prefix}{index}." if nested else prefix)
            if found:
                return found
        return ""
    return f"{prefix.rstrip('.')}: {fields}" if prefix else str(fields)


class IsStaff(BasePermission):
    """Staff only; works with the stateless token user (the `is_staff` claim)."""

    message = "Staff only."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)
