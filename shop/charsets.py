"""The charset a request may declare (`Content-Type: ...; charset=X`): UTF-8, or a 415.

The API's bodies are UTF-8 (as RFC 8259 requires of JSON between systems), and so are query
strings (RFC 3986). Django, though, takes any codec Python knows as the request's encoding (it
ignores only names it does not know) and decodes the query string and the body with it: with
`rot13`, `base64` or `zlib` (bytes-to-bytes codecs) that raises LookupError, with `punycode` or
`undefined` a UnicodeError that nothing expects. Given a query string, it happened while Django
built the request (setting `encoding` re-reads `GET`): `GET /api/catalog/products/?search=mug`
with `Content-Type: text/plain; charset=rot13` was a plain-text 500 from the web server, before
any middleware; without one, a 500 in whatever read the body first (the JSON parser, the CSRF
check of the admin's forms).

So the request is never given another encoding (TextCharsetRequest, the request class of the
project's WSGI handler: runserver and gunicorn), and TextCharsetMiddleware answers a request
declaring any other charset with a 415 in the API's error shape. ASCII, a subset, is UTF-8 too.
"""

from __future__ import annotations

import codecs

from django.core.handlers.wsgi import WSGIHandler as DjangoWSGIHandler
from django.core.handlers.wsgi import WSGIRequest
from django.utils.http import parse_header_parameters

from shop import errors

_UTF_8 = {"utf-8", "ascii"}  # codecs' own names, whatever alias was sent (UTF8, us-ascii...)


def is_utf_8(charset: str) -> bool:
    """Whether `charset` names UTF-8 (or ASCII, a subset of it)."""
    try:
        return codecs.lookup(charset).name in _UTF_8
    except LookupError:
        return False


class TextCharsetRequest(WSGIRequest):
    """Django's request, taking a declared charset as its encoding only if it is UTF-8 (the
    default anyway). Any other is never used to decode; TextCharsetMiddleware refuses it."""

    def _set_content_type_params(self, meta) -> None:
        self.content_type, self.content_params = parse_header_parameters(meta.get("CONTENT_TYPE", ""))
        charset = self.content_params.get("charset")
        if charset and is_utf_8(charset):
            self.encoding = charset


class WSGIHandler(DjangoWSGIHandler):
    """The project's WSGI application (shop/wsgi.py): Django's, with TextCharsetRequest."""

    request_class = TextCharsetRequest


class TextCharsetMiddleware:
    """A 415 for a request declaring a charset other than UTF-8, before anything reads its
    query string or body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        charset = request.content_params.get("charset")
        if charset and not is_utf_8(charset):
            return errors.response(
                request, 415, detail=f"Unsupported charset {charset!r}: requests are in utf-8."
            )
        return self.get_response(request)
