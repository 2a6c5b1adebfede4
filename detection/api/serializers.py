from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from detection.models import Alert, AlertStatus, ReasonCode
from tenants.api.fields import IdField


class AlertSerializer(serializers.ModelSerializer):
    site = serializers.IntegerField(source="camera.site_id", read_only=True)
    camera_name = serializers.CharField(source="camera.name", read_only=True)
    zone_name = serializers.CharField(source="zone.name", read_only=True, default=None)
    handled_by = serializers.CharField(source="handled_by.username", read_only=True, default=None)
    scene_image = serializers.SerializerMethodField(help_text="the camera's scene reference image (JPEG) for the "
                                                              "alert detail, or null when it has none")

    class Meta:
        model = Alert
        fields = ["id", "kind", "site", "camera", "camera_name", "zone", "zone_name", "started_at", "ended_at",
                  "peak_score", "per_model", "boxes", "status", "reason_code", "note", "handled_by",
                  "handled_at", "scene_image"]
        read_only_fields = fields

    def get_scene_image(self, alert: Alert) -> str | None:
        return f"/api/v1/cameras/{alert.camera_id}/scene-image/" if alert.camera.scene_image else None


def _iso(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """What DRF's DateTimeField writes: the current time zone (``tz``, when the caller looked it up
    once for many values), ISO 8601, 'Z' for UTC."""
    if value is None:
        return None
    if tz is not None and getattr(tz, "key", None) == "UTC" and value.utcoffset() == _ZERO:
        text = value.isoformat()  # already UTC: localtime() would only change the tzinfo object
    else:
        text = timezone.localtime(value, tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_ZERO = timedelta(0)


def alert_rows(alerts: Sequence[Any]) -> list[dict[str, Any]]:
    """``AlertSerializer(alerts, many=True).data``, field for field, without DRF's per-field
    machinery: the edge ingest serializes every alert it writes for the live walls, and at
    thousands of events a second DRF cost more than the database. Related rows must be loaded
    (``camera``, ``zone``, ``handled_by``). ``alerts`` are ``Alert`` objects or the edge ingest's
    not-yet-loaded new alerts (``detection.ingest._NewAlert``, the same attributes).
    tests/detection/test_alert_rows.py keeps the two equal."""
    tz = timezone.get_current_timezone()
    scene: dict[int, str | None] = {}  # camera id -> scene image URL (one FileField read per camera)

    def scene_image(a: Any) -> str | None:
        if a.camera_id not in scene:
            scene[a.camera_id] = f"/api/v1/cameras/{a.camera_id}/scene-image/" if a.camera.scene_image else None
        return scene[a.camera_id]

    return [{
        "id": a.id, "kind": a.kind, "site": a.camera.site_id, "camera": a.camera_id, "camera_name": a.camera.name,
        "zone": a.zone_id, "zone_name": a.zone.name if a.zone_id is not None else None,
        "started_at": _iso(a.started_at, tz), "ended_at": _iso(a.ended_at, tz), "peak_score": float(a.peak_score),
        "per_model": a.per_model, "boxes": a.boxes, "status": a.status, "reason_code": a.reason_code, "note": a.note,
        "handled_by": a.handled_by.username if a.handled_by_id is not None else None,
        "handled_at": _iso(a.handled_at, tz), "scene_image": scene_image(a),
    } for a in alerts]


class AlertFilterSerializer(serializers.Serializer):
    site = IdField(required=False, source="site_id")
    camera = IdField(required=False, source="camera_id")
    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class AlertCloseSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ReasonCode.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
