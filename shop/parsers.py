"""The API's JSON parser: DRF's, bounded so that no body can fail anywhere but in the parser.

The standard library's decoder recurses once per nesting level, so a body of a few thousand
brackets is a RecursionError (a 500) instead of a parse error; it also turns `1e999` into an
infinite float that no number field expects. Here every body is checked before it is decoded:
nested deeper than MAX_JSON_DEPTH, not UTF-8, or holding a number out of range, it is a 400 that
says why. No endpoint takes a body more than a few levels deep (an order is three).

JSON may also escape half of a surrogate pair alone (`"\\ud800"`): Python decodes it to a string
that is no Unicode text — it cannot even be encoded as UTF-8. Not just a field's problem: an
error message that quotes the value ('"\\ud800" is not a valid choice.') cannot be rendered, a
500. So a body with a lone surrogate anywhere, in a key or a value, is refused here, whole.
"""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 16
# A JSON string (escapes included) or a bracket: the only tokens that matter for depth.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text` (brackets inside strings do not count).
    Linear in the length of the text and without recursion; the text need not be valid JSON."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        first = match.group()[0]  # '"' for a string
        if first in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif first in "]}":
            depth -= 1
    return deepest


# Where a lone surrogate can come from: a \uD800-\uDFFF escape (two of them may make one
# character), or a charset whose decoder yields one (UTF-7 does). Only then is the value walked.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(value: object) -> str | None:
    """The first lone surrogate in the strings and keys of a decoded JSON value, or None. (An
    escaped pair is decoded to one character, so any surrogate left is a lone one.)"""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                return found.group()
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # A key given twice is ambiguous: decoders differ on which value counts (Python's takes the
    # last), so a proxy, a log or a WAF reading the other one would see another request.
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing with a 400 (ParseError) what the decoder cannot take safely:
    invalid UTF-8, nesting deeper than MAX_JSON_DEPTH, NaN/Infinity, numbers that overflow a
    float, an object with a key given twice, a lone surrogate. (Integers of more than 4300
    digits the decoder itself refuses: a 400 too.)"""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc.reason}.")
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = json.loads(
                text,
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
                object_pairs_hook=_object_without_duplicate_keys,
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")
        if _MAYBE_SURROGATE.search(text) and (surrogate := lone_surrogate(data)) is not None:
            code_point = f"U+{ord(surrogate):04X}"
            raise ParseError(f"JSON parse error - a lone surrogate ({code_point}) is not Unicode text.")
        return data
