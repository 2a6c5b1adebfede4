from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.views.decorators.debug import sensitive_variables
from rest_framework import serializers

from cameras import streams
from cameras.crypto import redact_url
from cameras.geometry import PolygonError, validate_line, validate_polygon
from cameras.models import Camera, DeviceStatus, EdgeDevice, Shift, Zone, ZoneKind
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


def _beat(device: EdgeDevice | None) -> dict[str, Any]:
    """The device's last coalesced heartbeat (detection.ingest writes ``health["heartbeat"]``)."""
    beat = (device.health or {}).get("heartbeat") if device is not None else None
    return beat if isinstance(beat, dict) else {}


CAMERA_BEAT_FIELDS = ("state", "fps", "frames", "dropped_frames", "latency_p50_ms", "latency_p99_ms", "open_events")


def camera_health(device: EdgeDevice | None, camera_id: str) -> dict[str, Any] | None:
    """One camera's last values: its part of the device's last heartbeat and its last stream_status."""
    row = next((c for c in _beat(device).get("cameras") or [] if c.get("camera_id") == camera_id), None)
    stream = ((device.health or {}).get("streams") or {}).get(camera_id) if device is not None else None
    if row is None and stream is None:
        return None
    out: dict[str, Any] = {"camera_id": camera_id, **{k: (row or {}).get(k) for k in CAMERA_BEAT_FIELDS}}
    out["stream"] = stream.get("status") if isinstance(stream, dict) else None
    return out


class CameraStopSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, allow_null=True, max_length=200,
                                  help_text="a model name; omitted: the whole camera")


class CameraSerializer(serializers.ModelSerializer):
    site = site_field()
    device = ScopedPrimaryKeyRelatedField(model=EdgeDevice, restrict="limit_devices", allow_null=True, required=False)
    stream_url = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                       help_text="rtsp://user:password@host/path; stored encrypted")
    stream_url_redacted = serializers.SerializerMethodField()
    zones = NestedZoneSerializer(many=True, write_only=True, required=False,
                                 help_text="zones to create with the camera (create only)")
    health = serializers.SerializerMethodField(help_text="last values of the device's last heartbeat for this "
                                                         "camera (fps, latency, dropped frames, state), or null")
    has_scene_image = serializers.SerializerMethodField()
    models = serializers.JSONField(source="edge_models", required=False, allow_null=True,
                                   help_text="edge model configs [{'type': 'face_recognition_onnx', 'name': ..., "
                                             "...}]; null: the default set for the scene class. Checked "
                                             "against the camera's effective policy (400 with the reason)")

    class Meta:
        model = Camera
        fields = ["id", "site", "device", "name", "stream_url", "stream_url_redacted", "width", "height",
                  "fps", "scene_class", "enabled", "zones", "created_at", "stream_state", "stream_state_since",
                  "health", "has_scene_image", "scene_image_at", "scene_image_requested_at",
                  "context", "models", "stopped_at", "stopped_models"]
        read_only_fields = ["id", "created_at", "stream_url_redacted", "stream_state", "stream_state_since",
                            "scene_image_at", "scene_image_requested_at", "stopped_at", "stopped_models"]
        validators: list = []  # (site, name) uniqueness is checked in validate() with a field error

    def get_health(self, camera: Camera) -> dict[str, Any] | None:
        return camera_health(camera.device, str(camera.id)) if camera.device_id else None

    def get_has_scene_image(self, camera: Camera) -> bool:
        return bool(camera.scene_image)

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
    online = serializers.SerializerMethodField()
    last_heartbeat_at = serializers.SerializerMethodField()
    config_version_applied = serializers.SerializerMethodField(help_text="the config version of the last heartbeat")
    outbox_depth = serializers.SerializerMethodField()
    outbox_bytes = serializers.SerializerMethodField()
    dead_letters = serializers.SerializerMethodField()
    cameras = serializers.SerializerMethodField(help_text="per camera: fps, latency p50/p99, dropped frames, "
                                                          "state (last heartbeat) and stream (last stream_status)")

    class Meta:
        model = EdgeDevice
        fields = ["id", "site", "name", "status", "online", "last_seen_at", "last_heartbeat_at", "created_at",
                  "agent_version", "last_seq", "health", "enrolled_at", "revoked_at", "config_version",
                  "config_version_applied", "outbox_depth", "outbox_bytes", "dead_letters", "cameras"]
        read_only_fields = ["id", "status", "last_seen_at", "created_at", "agent_version", "last_seq", "health",
                            "enrolled_at", "revoked_at", "config_version"]

    def get_online(self, device: EdgeDevice) -> bool:
        return device.status == DeviceStatus.ONLINE

    def get_last_heartbeat_at(self, device: EdgeDevice) -> str | None:
        ts = _beat(device).get("ts")
        try:
            return datetime.fromtimestamp(float(ts), tz=UTC).isoformat() if ts is not None else None
        except (TypeError, ValueError, OverflowError, OSError):
            return None

    def get_config_version_applied(self, device: EdgeDevice) -> int | None:
        return _beat(device).get("config_version")

    def get_outbox_depth(self, device: EdgeDevice) -> int | None:
        return _beat(device).get("outbox_depth")

    def get_outbox_bytes(self, device: EdgeDevice) -> int | None:
        return _beat(device).get("outbox_bytes")

    def get_dead_letters(self, device: EdgeDevice) -> int | None:
        return _beat(device).get("dead_letters")

    def get_cameras(self, device: EdgeDevice) -> list[dict[str, Any]]:
        ids = [str(c.get("camera_id")) for c in _beat(device).get("cameras") or []]
        ids += [k for k in ((device.health or {}).get("streams") or {}) if k not in ids]
        return [row for i in ids if (row := camera_health(device, i)) is not None]


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


class DeviceCommandInSerializer(serializers.Serializer):
    action = serializers.CharField(max_length=64, help_text="reload | unload_model | destroy_biometric_templates")
    args = serializers.JSONField(required=False, default=dict,
                                 help_text="unload_model: {'camera': <camera id>, 'model': <model name>}; else {}")


class DeviceCommandSerializer(serializers.Serializer):
    """A command sent to a device and its result (status pending until the device answers)."""

    id = serializers.IntegerField(read_only=True)
    device = serializers.IntegerField(source="device_id", read_only=True)
    action = serializers.CharField(read_only=True)
    args = serializers.JSONField(read_only=True)
    sent_at = serializers.DateTimeField(read_only=True)
    delivered_at = serializers.DateTimeField(read_only=True)
    status = serializers.CharField(read_only=True)
    result_message = serializers.CharField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True)
