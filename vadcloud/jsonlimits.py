"""JSON with limits: nesting depth and size are checked before the parser runs.

Python's ``json`` recurses once per nesting level, so ``[[[[...]]]]`` 100k deep is a
RecursionError (a 500) instead of a clear refusal. ``parse_json_limited`` measures the depth
with a flat scan first. The HTTP parser and the websocket consumers both use it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 20
MAX_WS_MESSAGE_BYTES = 64 * 1024

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonLimitError(ValueError):
    """Input that is not JSON, or JSON beyond the limits; the message says which."""


def json_depth(text: str) -> int:
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json_limited(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise JsonLimitError(f"JSON must be UTF-8: {err.reason} at byte {err.start}") from None
    if max_bytes is not None and len(text.encode("utf-8")) > max_bytes:
        raise JsonLimitError(f"JSON message larger than {max_bytes} bytes")
    depth = json_depth(text)
    if depth > max_depth:
        raise JsonLimitError(f"JSON nesting deeper than {max_depth} levels ({depth})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise JsonLimitError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except ValueError as err:  # e.g. an integer literal of more than 4300 digits
        raise JsonLimitError(f"invalid JSON: {err}") from None
