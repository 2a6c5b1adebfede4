"""Writes for cameras (with their zones). One transaction: nothing half-written."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cameras.models import Camera, Zone


def camera_create(*, tenant_id: int, zones: list[dict[str, Any]] | None = None, **fields: Any) -> Camera:
    with transaction.atomic():
        camera = Camera.objects.create(tenant_id=tenant_id, **fields)
        for zone in zones or []:
            Zone.objects.create(tenant_id=tenant_id, camera=camera, **zone)
    return camera
