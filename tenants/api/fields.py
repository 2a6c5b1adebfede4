from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
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
