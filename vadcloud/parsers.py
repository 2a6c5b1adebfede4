"""The API's body parsers: size, JSON nesting depth and number range are checked before a view
sees the body, so bad input is a 400/413 with a specific message instead of a 500.

- Body size: at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, a 413 "request body larger than ..."
  (Django's own check of that setting is an HTML 400 page that DRF does not render).
- JSON nesting: at most ``MAX_DEPTH`` (20) levels of arrays/objects (400 "JSON nesting deeper than
  20 levels"). Python's ``json`` recurses once per level: ``[[[[...]]]]`` 5000 deep is a
  RecursionError, and a few hundred levels still reach serializers that recurse again.
- Numbers: ``NaN``/``Infinity`` and floats beyond the double range (``1e999``, which Python
  reads as ``inf``) are refused; the JSON renderer could not write them back.

The JSON checks themselves (``parse_json_limited``, ``json_depth``) live in
``vadcloud.jsonlimits``, shared with the websocket consumers.
"""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import renderers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from vadcloud.jsonlimits import MAX_DEPTH, JsonLimitError, parse_json_limited

__all__ = ["LimitedFormParser", "LimitedJSONParser", "RequestTooLarge"]

class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "request body too large"
    default_code = "request_too_large"


def _body(stream: IO[bytes], parser_context: dict[str, Any] | None) -> bytes:
    """The request body, at most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes, else ``RequestTooLarge``.

    Reads through Django's ``request.body`` (cached, so the body stays readable after parsing),
    after checking the declared length itself: Django's own check raises ``RequestDataTooBig``,
    which DRF does not handle (an HTML 400 page). A body without a Content-Length (chunked) is
    measured after reading.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    request = (parser_context or {}).get("request")
    http_request = getattr(request, "_request", None)
    if http_request is None:
        raw = stream.read() if limit is None else stream.read(limit + 1)
    else:
        declared = str(http_request.META.get("CONTENT_LENGTH") or "0")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"request body larger than {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)")
        raw = http_request.body
    if limit is not None and len(raw) > limit:
        raise RequestTooLarge(f"request body larger than {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)")
    return raw


def _encoding(parser_context: dict[str, Any] | None) -> str:
    return (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET


class LimitedJSONParser(BaseParser):
    """DRF's JSON parser with the size, depth and number limits above.

    Not a ``JSONParser`` subclass on purpose: DRF reads ``request.body`` itself before calling a
    ``JSONParser``/``FormParser`` subclass, so an oversized body would never reach this check.
    """

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    max_depth = MAX_DEPTH

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        raw, encoding = _body(stream, parser_context), _encoding(parser_context)
        try:
            text = raw.decode(encoding)
        except (LookupError, UnicodeDecodeError) as err:
            raise ParseError(f"JSON body is not valid {encoding}: {err}") from None
        try:
            return parse_json_limited(text, max_depth=self.max_depth)
        except JsonLimitError as err:
            raise ParseError(str(err)) from None


class LimitedFormParser(BaseParser):
    """DRF's form parser (``application/x-www-form-urlencoded``) with the size limit above."""

    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        return QueryDict(_body(stream, parser_context), encoding=_encoding(parser_context))
