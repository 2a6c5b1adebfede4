"""JSON with limits: nesting depth and size are checked before the parser runs.

Python's ``json`` recurses once per nesting level, so ``[[[[...]]]]`` 100k deep is a
RecursionError (a 500) instead of a clear refusal. ``parse_json_limited`` measures the depth
with a flat scan first. The HTTP parser and the websocket consumers both use it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 20
MAX_WS_MESSAGE_BYTES = 64 * 1024


class JsonLimitError(ValueError):
    """Input that is not JSON, or JSON beyond the limits; the message says which."""


# One JSON string (unrolled loop, closing quote optional) or one bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def json_depth(text: str) -> int:
    """The deepest array/object nesting in ``text``; exact for valid JSON, linear time for any text.

    For invalid JSON it is exact up to the first error, which is as far as ``json.loads`` gets.
    """
    depth = deepest = 0
    for token in _TOKEN.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> float:
    raise JsonLimitError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonLimitError(f"number {literal[:40]} is out of range (largest is about 1.8e308)")
    return value


def parse_json_limited(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> Any:
    """``json.loads`` with limits; raises ``JsonLimitError`` (a ``ValueError``) saying which limit.

    The HTTP parser (``vadcloud.parsers``) and the websocket consumers both call this.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise JsonLimitError(f"JSON must be UTF-8: {err.reason} at byte {err.start}") from None
    if max_bytes is not None and len(text) > max_bytes // 4 and len(text.encode("utf-8")) > max_bytes:
        raise JsonLimitError(f"JSON message larger than {max_bytes} bytes")
    if text.count("[") + text.count("{") > max_depth:  # otherwise it cannot be deeper: skip the scan
        depth = json_depth(text)
        if depth > max_depth:
            raise JsonLimitError(f"JSON nesting deeper than {max_depth} levels ({depth})")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JsonLimitError:
        raise
    except json.JSONDecodeError as err:
        raise JsonLimitError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except ValueError as err:  # an integer literal of more than 4300 digits
        raise JsonLimitError(f"invalid JSON: {err}") from None
