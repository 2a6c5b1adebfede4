from __future__ import annotations

from typing import Any

from django.views.decorators.debug import sensitive_variables
from rest_framework import serializers

from cameras import streams
from cameras.crypto import redact_url
from cameras.geometry import PolygonError, validate_line, validate_polygon
from cameras.models import Camera, EdgeDevice, Shift, Zone, ZoneKind
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.models import Site

STREAM_SCHEMES = streams.STREAM_SCHEMES  # rtsp, rtsps, http, https: the rules live in cameras.streams


def site_field() -> ScopedPrimaryKeyRelatedField:
    return ScopedPrimaryKeyRelatedField(model=Site, restrict="limit_sites")


class ZoneFieldsMixin:
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = getattr(self, "instance", None)
        kind = attrs.get("kind", getattr(instance, "kind", None))
        if "points" in attrs or "kind" in attrs:
            points = attrs.get("points", getattr(instance, "points", None))
            try:
                attrs["points"] = validate_line(points) if kind == ZoneKind.LINE else validate_polygon(points)
            except PolygonError as err:
                raise serializers.ValidationError({"points": [str(err)]}) from None
        if kind == ZoneKind.LOITERING and not attrs.get("loiter_seconds", getattr(instance, "loiter_seconds", None)):
            raise serializers.ValidationError({"loiter_seconds": ["a loitering zone needs loiter_seconds > 0"]})
        return attrs


class NestedZoneSerializer(ZoneFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Zone
        fields = ["name", "kind", "points", "loiter_seconds"]


class ZoneSerializer(ZoneFieldsMixin, serializers.ModelSerializer):
    camera = ScopedPrimaryKeyRelatedField(model=Camera, restrict="limit_cameras")

    class Meta:
        model = Zone
        fields = ["id", "camera", "name", "kind", "points", "loiter_seconds", "created_at"]
        read_only_fields = ["id", "created_at"]


class CameraSerializer(serializers.ModelSerializer):
    site = site_field()
    device = ScopedPrimaryKeyRelatedField(model=EdgeDevice, restrict="limit_devices", allow_null=True, required=False)
    stream_url = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                       help_text="rtsp://user:password@host/path; stored encrypted")
    stream_url_redacted = serializers.SerializerMethodField()
    zones = NestedZoneSerializer(many=True, write_only=True, required=False,
                                 help_text="zones to create with the camera (create only)")

    class Meta:
        model = Camera
        fields = ["id", "site", "device", "name", "stream_url", "stream_url_redacted", "width", "height",
                  "fps", "scene_class", "enabled", "zones", "created_at"]
        read_only_fields = ["id", "created_at", "stream_url_redacted"]
        validators: list = []  # (site, name) uniqueness is checked in validate() with a field error

    @sensitive_variables()
    def get_stream_url_redacted(self, camera: Camera) -> str:
        return redact_url(camera.stream_url or "")  # never raises, even for a stored URL we would now refuse

    @sensitive_variables("value")
    def validate_stream_url(self, value: str) -> str:
        if value:
            try:
                streams.parse_stream_url(value)
            except streams.StreamUrlError as err:  # its message quotes no credentials
                raise serializers.ValidationError(str(err)) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        site = attrs.get("site", getattr(self.instance, "site", None))  # site/device agreement: cameras.services
        if self.instance is not None and "zones" in attrs:
            raise serializers.ValidationError({"zones": ["zones are created with the camera; use /zones/ to edit"]})
        name = attrs.get("name", getattr(self.instance, "name", None))
        clash = Camera.objects.filter(site=site, name=name)
        if self.instance is not None:
            clash = clash.exclude(id=self.instance.id)
        if site is not None and clash.exists():
            raise serializers.ValidationError({"name": [f"a camera named {name!r} already exists at this site"]})
        return attrs


class DeviceSerializer(serializers.ModelSerializer):
    site = site_field()

    class Meta:
        model = EdgeDevice
        fields = ["id", "site", "name", "status", "last_seen_at", "created_at", "agent_version", "last_seq",
                  "health", "enrolled_at", "revoked_at", "config_version"]
        read_only_fields = ["id", "status", "last_seen_at", "created_at", "agent_version", "last_seq", "health",
                            "enrolled_at", "revoked_at", "config_version"]


class EnrollmentTokenOutSerializer(serializers.Serializer):
    """The one-time enrollment token (shown once) and the command that installs and enrolls a box."""

    device = serializers.IntegerField(read_only=True)
    token = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    install_command = serializers.CharField(read_only=True)


class ShiftSerializer(serializers.ModelSerializer):
    site = site_field()
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=7), min_length=1)

    class Meta:
        model = Shift
        fields = ["id", "site", "name", "weekdays", "start_time", "end_time", "sensitivity"]
        read_only_fields = ["id"]

    def validate_weekdays(self, value: list[int]) -> list[int]:
        return sorted(set(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start = attrs.get("start_time", getattr(self.instance, "start_time", None))
        end = attrs.get("end_time", getattr(self.instance, "end_time", None))
        if start is not None and start == end:
            raise serializers.ValidationError({"end_time": ["end_time must differ from start_time"]})
        return attrs
