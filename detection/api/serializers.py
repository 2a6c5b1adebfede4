from __future__ import annotations

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


class AlertFilterSerializer(serializers.Serializer):
    site = IdField(required=False, source="site_id")
    camera = IdField(required=False, source="camera_id")
    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class AlertCloseSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ReasonCode.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
