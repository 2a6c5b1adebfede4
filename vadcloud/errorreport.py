"""No URL credentials on error pages, in error emails or in log lines.

``UrlCredentialsExceptionReporterFilter`` (``DEFAULT_EXCEPTION_REPORTER_FILTER``) is Django's
safe filter, always active (also with DEBUG on: a camera password is no less secret on a
developer's screen), that also runs ``redact_urls_in_text`` over every string in frame
variables, POST data, request META and settings (``DATABASE_URL``, ``REDIS_URL`` and
``CELERY_BROKER_URL`` carry passwords under names Django does not hide). POST parameters with
credential-like names (``password``, ``token``) are hidden whole.

``UrlCredentialsExceptionReporter`` (``DEFAULT_EXCEPTION_REPORTER``) redacts the exception
message and the chained causes, which the filter never sees, and runs the same redaction over
the finished page.

``RedactUrlCredentialsLogFilter`` (on the console handler in ``LOGGING``) redacts the message,
its args, the formatted traceback and every string ``extra`` field of a record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from django.template.defaultfilters import pprint
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from cameras.streams import is_credential_name, redact_url, redact_urls_in_text

_MAX_DEPTH = 4
_LEADING_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def redact_string(value: str) -> str:
    """A whole string that is one URL goes through ``redact_url`` (which masks it entirely when it
    holds whitespace, so ``rtsp://admin:pass word@cam`` cannot leak half a password); any other
    string has each URL inside it redacted."""
    if "@" in value and _LEADING_SCHEME.match(value):
        return redact_url(value)
    return redact_urls_in_text(value)


class _Shown:
    """Stands in for an object whose repr held a URL credential: pprint shows the redacted repr."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def redact_value(value: Any, depth: int = 0) -> Any:
    """``value`` with URL credentials removed from every string in it, for display only."""
    if isinstance(value, str):
        return redact_string(value)
    if depth < _MAX_DEPTH:
        kind = type(value)
        if kind is dict:
            return {redact_value(k, depth + 1): redact_value(v, depth + 1) for k, v in value.items()}
        if kind in (list, tuple, set, frozenset):
            return kind(redact_value(v, depth + 1) for v in value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    shown = pprint(value)
    redacted = redact_urls_in_text(shown)
    return value if redacted == shown else _Shown(redacted)


class UrlCredentialsExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request: Any) -> bool:
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)  # recurses through self.cleanse_setting
        return redact_string(cleansed) if isinstance(cleansed, str) else cleansed

    def _redact_multivaluedict(self, params: Any) -> Any:
        if not params:
            return params
        params = params.copy()
        for key in list(params.keys()):
            if is_credential_name(str(key)):
                params.setlist(key, [self.cleansed_substitute])
            else:
                params.setlist(key, [redact_value(v) for v in params.getlist(key)])
        return params

    def get_cleansed_multivaluedict(self, request: Any, multivaluedict: Any) -> Any:
        return self._redact_multivaluedict(super().get_cleansed_multivaluedict(request, multivaluedict))

    def get_post_parameters(self, request: Any) -> Any:
        return self._redact_multivaluedict(super().get_post_parameters(request))

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Iterable[tuple[str, Any]]:
        return [(name, redact_value(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]


class UrlCredentialsExceptionReporter(ExceptionReporter):
    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        for key in ("exception_value", "exception_notes", "request_insecure_uri"):
            if isinstance(data.get(key), str):
                data[key] = redact_urls_in_text(data[key])
        if "request_GET_items" in data:
            data["request_GET_items"] = [(k, self.filter.cleansed_substitute if is_credential_name(str(k))
                                          else redact_value(v)) for k, v in data["request_GET_items"]]
        for frame in data.get("frames", []):
            if frame.get("exc_cause") is not None:
                frame["exc_cause"] = redact_urls_in_text(str(frame["exc_cause"]))
        return data

    def get_traceback_html(self) -> str:
        return redact_urls_in_text(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return redact_urls_in_text(super().get_traceback_text())


_STANDARD_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RedactUrlCredentialsLogFilter(logging.Filter):
    """Rewrites the record in place (message formatted once, redacted) and always lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  # a bad format string: logging reports it; redact the parts
            record.msg = redact_value(record.msg) if isinstance(record.msg, str) else record.msg
            record.args = tuple(redact_value(a) for a in record.args) if isinstance(record.args, tuple) else record.args
        else:
            record.msg, record.args = redact_urls_in_text(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_urls_in_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_urls_in_text(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, redact_string(value))
        return True
