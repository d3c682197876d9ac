"""What a request may carry: the API's input types, bounded to what every database takes.

One place for the limits, so no endpoint can hand the ORM a value its database refuses (an
integer beyond 64 bits is an OverflowError in SQLite's driver, a NUL byte a DataError in
Postgres): such a value is a 400 that names the field, on SQLite and on Postgres alike.

- Ids (path segments, body fields, filters) are positive 64-bit integers: every id column here is
  a BigAutoField or a PositiveBigIntegerField, and both databases store them as signed 64 bits.
- A JSON body's values must have the JSON type the schema documents: an integer is a JSON
  integer (not "3", 3.0 or true), text a string (not 12), a flag true or false (not "yes"), an
  amount a string of digits and a point ("14.00", never a float, nor "1e5"). DRF's own fields
  coerce; these refuse, with a 400.
- Amounts in a filter fit the money columns (numeric(12, 2)) and are written as in a body.
- Text is refused with a NUL byte or a lone surrogate by DRF's own CharField, which every text
  field here is (or derives from); a lone surrogate anywhere in a JSON body, where no field
  may see it, already by the parser (shop/parsers.py).
"""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.db import models
from rest_framework import serializers

# The largest value of a signed 64-bit integer: Postgres bigint, SQLite INTEGER.
MAX_ID = 2**63 - 1


def as_id(value: object) -> int | None:
    """`value` (a token's user id claim, say) as an id a database could hold, or None. Tokens
    are signed: only a bug sends a claim that is not one."""
    try:
        pk = int(str(value))
    except ValueError:
        return None
    return pk if 0 < pk <= MAX_ID else None


# The `lookup_value_regex` of every detail route: at most 19 digits, so a longer one is a 404 at
# the URL resolver and never reaches int(). (A 19-digit id above MAX_ID finds no row: a 404 too.)
ID_PATH_PATTERN = r"[0-9]{1,19}"
# The money columns: DecimalField(max_digits=12, decimal_places=2); an amount in a query string.
MONEY_DIGITS = {"max_digits": 12, "decimal_places": 2}
MONEY_PATTERN = r"^\d{1,10}(?:\.\d{1,2})?$"


class StrictIntegerField(serializers.IntegerField):
    """An integer sent as a JSON number without a fraction. DRF's IntegerField would accept "3",
    3.0 and "3.0"; a quantity or an id sent as anything else is a client bug, so say so."""

    default_error_messages = {"invalid": "A whole number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class _JsonString:
    """Refuses a value that was not sent as a JSON string (DRF's text fields turn 12 or true
    into text)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(_JsonString, serializers.CharField):
    """Text sent as a JSON string."""

    default_error_messages = {"invalid": "Not a valid string."}


class StrictRegexField(_JsonString, serializers.RegexField):
    """Text sent as a JSON string, matching a pattern."""


# How an amount is written: ASCII digits, a point and digits. Python's Decimal (which DRF's field
# parses with) also takes "1e5", "+1", " 1.00", "1_000.00" and other scripts' digits (U+FF11 for 1),
# none of which the schema allows or a client means as money. A sign stays, so "-1.00" gets the
# field's own "at least 0" message.
DECIMAL_SPELLING = re.compile(r"\A-?[0-9]+(?:\.[0-9]+)?\Z")


class StrictDecimalField(_JsonString, serializers.DecimalField):
    """A decimal amount sent as a JSON string ("14.00"): a float cannot hold cents exactly."""

    default_error_messages = {"invalid": 'A decimal number in a string is required, e.g. "14.00".'}

    def to_internal_value(self, data):
        if isinstance(data, str) and not DECIMAL_SPELLING.match(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(_JsonString, serializers.EmailField):
    """An email address sent as a JSON string."""


class StrictBooleanField(serializers.BooleanField):
    """true or false, as JSON booleans (DRF's BooleanField also takes "yes", "on", 1...)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictModelSerializer(serializers.ModelSerializer):
    # A ModelSerializer whose generated fields take only their own JSON type (see above).
    # (A comment, not a docstring: the OpenAPI schema would show it on every subclass.)

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.BooleanField: StrictBooleanField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.DecimalField: StrictDecimalField,
        **{
            integer: StrictIntegerField
            for integer, drf_field in serializers.ModelSerializer.serializer_field_mapping.items()
            if drf_field is serializers.IntegerField
        },
    }


class IdField(StrictIntegerField):
    """The id of something (a product, an order) in a JSON body: a positive 64-bit integer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class QueryIdField(serializers.IntegerField):
    """An id in a query string (`?product=12`): digits, a positive 64-bit integer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdFilter(django_filters.NumberFilter):
    """A django-filter for an id column: whole numbers from 1 to MAX_ID (NumberFilter alone is a
    decimal, so `?order_id=1.5` would silently match order 1 and 1e30 reach the database)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _AmountFormField(forms.DecimalField):
    """Django's form DecimalField, taking an amount written as in a body (DECIMAL_SPELLING)."""

    def to_python(self, value):
        if value not in self.empty_values and not DECIMAL_SPELLING.match(str(value).strip()):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class MoneyFilter(django_filters.NumberFilter):
    """A django-filter for an amount: what the money columns hold, never negative, written as
    in a body ("9.90": Decimal alone also takes "1e1" and other scripts' digits)."""

    field_class = _AmountFormField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        for name, value in MONEY_DIGITS.items():
            kwargs.setdefault(name, value)
        super().__init__(*args, **kwargs)
