"""Pagination for every API list route: bounded page sizes; bad page parameters are a 400.

- ``limit`` (offset pages) and ``page_size`` (cursor pages) are whole numbers from 1; values above
  ``MAX_PAGE_SIZE`` (200) are capped at it, as DRF documents for ``max_limit``/``max_page_size``.
  DRF alone passes an unbounded ``limit`` to the database (a 500 beyond 64 bits).
- ``offset`` is a whole number from 0 to 2**63 - 1.
- A cursor is opaque: one that does not decode to what this paginator wrote (bad base64, a
  position that is not a value of the ordering field, an offset beyond ``offset_cutoff``) is a 400
  "invalid cursor". DRF answers 404 for some of these and 500 for a bad position.
Anything else that is not a whole number (``limit=abc``) is a 400 naming the parameter and value.
"""

from __future__ import annotations

from base64 import b64decode
from datetime import UTC
from typing import Any
from urllib import parse

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DateTimeField, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor, CursorPagination, LimitOffsetPagination
from rest_framework.request import Request

from tenants.api.fields import MAX_ID

MAX_PAGE_SIZE = 200
MAX_OFFSET = MAX_ID


def _whole_number(request: Request, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    """The query parameter ``name`` as an int (None when absent); above ``maximum`` it is capped."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or (len(text) <= 19 and int(text) < minimum):
        raise ValidationError({name: [f"{name} must be a whole number from {minimum}, got {raw[:40]!r}"]})
    if len(text) > 19 or int(text) > MAX_OFFSET:
        if maximum is None:
            raise ValidationError({name: [f"{name} must be at most {MAX_OFFSET}, got {raw[:40]!r}"]})
        return maximum
    value = int(text)
    return min(value, maximum) if maximum is not None else value


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """The default paginator (``REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]``)."""

    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request: Request) -> int | None:
        limit = _whole_number(request, self.limit_query_param, minimum=1, maximum=self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        offset = _whole_number(request, self.offset_query_param, minimum=0)
        return 0 if offset is None else offset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
                parameter["description"] = f"Number of results to return per page (1 to {self.max_limit})."
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, maximum=MAX_OFFSET)
        return parameters


class BoundedCursorPagination(CursorPagination):
    """Cursor pages (newest first by ``ordering``); subclasses set ``ordering``."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int | None:
        if self.page_size_query_param:
            size = _whole_number(request, self.page_size_query_param, minimum=1, maximum=self.max_page_size)
            if size is not None:
                return size
        return self.page_size

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any] | None:
        ordering = self.get_ordering(request, queryset, view)
        self._position_field = queryset.model._meta.get_field(ordering[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def _invalid(self, why: str) -> ValidationError:
        return ValidationError({self.cursor_query_param: [
            f"invalid cursor ({why}); use the next/previous links exactly as returned"
        ]})

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
        except ValueError:  # binascii.Error, UnicodeError
            raise self._invalid("not base64 text") from None
        tokens = parse.parse_qs(querystring, keep_blank_values=True)
        offset = tokens.get("o", ["0"])[0]
        if not (offset.isascii() and offset.isdigit()) or int(offset) > self.offset_cutoff:
            raise self._invalid(f"offset must be a whole number from 0 to {self.offset_cutoff}")
        reverse = tokens.get("r", ["0"])[0]
        if reverse not in ("0", "1"):
            raise self._invalid("direction must be 0 or 1")
        position = tokens.get("p", [None])[0]
        if position is not None:
            self._check_position(position)
        return Cursor(offset=int(offset), reverse=reverse == "1", position=position)

    def _check_position(self, position: str) -> None:
        field = getattr(self, "_position_field", None)
        if field is None:
            return
        try:
            value = field.to_python(position)
            if isinstance(field, DateTimeField) and value is not None:
                if timezone.is_naive(value):
                    value = timezone.make_aware(value)
                value.astimezone(UTC)  # the database compares in UTC: years 1 and 9999 may overflow
        except (DjangoValidationError, OverflowError, ValueError, TypeError):
            raise self._invalid(f"position is not a {field.name} value") from None
