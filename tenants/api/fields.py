from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A pk field whose queryset is built per request from the model's scoped manager.

    ``Site.objects.all()`` at import time would query outside any scope; this evaluates it at
    validation time, so an id of another tenant is "does not exist" (400), never accepted.
    ``restrict`` optionally narrows further (e.g. to the member's visible sites).
    """

    def __init__(self, *, model: type[Model], restrict: str | None = None, **kwargs: Any) -> None:
        self.model = model
        self.restrict = restrict
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        qs = self.model.objects.all()  # type: ignore[attr-defined]
        if self.restrict:
            view = self.context.get("view")
            hook = getattr(view, self.restrict, None)
            if hook is not None:
                qs = hook(qs)
        return qs


MAX_ID = 2**63 - 1  # BigAutoField: PostgreSQL bigint, SQLite INTEGER
MAX_ID_LIST = 1000  # ids in one list field (grants, filters)


class IdField(serializers.IntegerField):
    """An object id: a whole number from 1 to 2**63 - 1.

    A larger number would reach the database driver and fail there (OverflowError, a 500); here
    it is a field error naming the range. The OpenAPI schema shows the bounds too.
    """

    default_error_messages = {
        "min_value": "ids are whole numbers from {min_value} to 9223372036854775807; this one is smaller.",
        "max_value": "ids are whole numbers from 1 to {max_value}; this one is larger.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)



TIME_OF_DAY_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


class TimeOfDayFieldExtension(OpenApiSerializerFieldExtension):
    """OpenAPI for DRF's ``TimeField``: a wall-clock time ``HH:MM[:SS[.ffffff]]``, no UTC offset.

    drf-spectacular writes ``format: time``, which JSON Schema defines as RFC 3339 full-time with
    a required offset (``22:00:00Z``); DRF writes ``22:00:00``, so every response "violated" the
    documented schema. Registered on import (every serializer module imports this one).
    """

    target_class = "rest_framework.fields.TimeField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "string", "pattern": TIME_OF_DAY_PATTERN, "example": "22:00:00"}
