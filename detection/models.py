"""Alerts: metadata events sent by edge agents (no video)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.scope import TenantOwned


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    DISMISSED = "dismissed", "Dismissed"


class ReasonCode(models.TextChoices):
    """Why an operator closed an alert; this is training signal for the models.

    The portal offers the issue's codes: ``true_positive`` to acknowledge; the ``fp_*`` false
    positives (lighting, shadow, weather, animal, reflection, crowd, camera moved) and ``test`` to
    dismiss. The older codes stay valid so existing alerts and API clients keep working.
    """

    TRUE_POSITIVE = "true_positive", "True positive"
    CONFIRMED_INCIDENT = "confirmed_incident", "Confirmed incident"
    INVESTIGATING = "investigating", "Investigating"
    FP_LIGHTING = "fp_lighting", "False positive: lighting"
    FP_SHADOW = "fp_shadow", "False positive: shadow"
    FP_WEATHER = "fp_weather", "False positive: weather"
    FP_ANIMAL = "fp_animal", "False positive: animal"
    FP_REFLECTION = "fp_reflection", "False positive: reflection"
    FP_CROWD = "fp_crowd", "False positive: crowd"
    FP_CAMERA_MOVED = "fp_camera_moved", "False positive: camera moved"
    FALSE_ALARM = "false_alarm", "False alarm"
    KNOWN_ACTIVITY = "known_activity", "Known / authorised activity"
    ENVIRONMENT = "environment", "Lighting, weather or scene change"
    TEST = "test", "Test"
    DUPLICATE = "duplicate", "Duplicate"
    OTHER = "other", "Other"


ACK_REASONS = frozenset({ReasonCode.TRUE_POSITIVE, ReasonCode.CONFIRMED_INCIDENT, ReasonCode.INVESTIGATING,
                         ReasonCode.OTHER})
DISMISS_REASONS = frozenset(set(ReasonCode) - {ReasonCode.TRUE_POSITIVE, ReasonCode.CONFIRMED_INCIDENT,
                                               ReasonCode.INVESTIGATING})
# What the portal's acknowledge / dismiss forms offer, in this order (the list).
PORTAL_ACK_REASONS = (ReasonCode.TRUE_POSITIVE,)
PORTAL_DISMISS_REASONS = (ReasonCode.FP_LIGHTING, ReasonCode.FP_SHADOW, ReasonCode.FP_WEATHER, ReasonCode.FP_ANIMAL,
                          ReasonCode.FP_REFLECTION, ReasonCode.FP_CROWD, ReasonCode.FP_CAMERA_MOVED, ReasonCode.TEST)
FALSE_ALARM_REASONS = frozenset({
    ReasonCode.FP_LIGHTING, ReasonCode.FP_SHADOW, ReasonCode.FP_WEATHER, ReasonCode.FP_ANIMAL,
    ReasonCode.FP_REFLECTION, ReasonCode.FP_CROWD, ReasonCode.FP_CAMERA_MOVED,
    ReasonCode.FALSE_ALARM, ReasonCode.ENVIRONMENT,
})
"""The dismiss reasons that count as false alarms, for the KPIs' false-alarm rate:
``dismissed with reason in FALSE_ALARM_REASONS / alerts handled``. Every ``fp_*`` code, plus the
older ``false_alarm`` and ``environment``. Not false alarms: ``test`` (a drill), ``duplicate``,
``known_activity`` (real, but authorised) and ``other``; acknowledged alerts never are."""


def is_false_alarm(reason_code: str) -> bool:
    """Whether an alert closed with ``reason_code`` was a false alarm (see FALSE_ALARM_REASONS)."""
    return reason_code in FALSE_ALARM_REASONS


class AlertKind(models.TextChoices):
    ANOMALY = "anomaly", "Anomaly"
    DEVICE_OFFLINE = "device_offline", "Device offline"
    STREAM_LOST = "stream_lost", "Camera stream lost"


class Alert(TenantOwned):
    # TenantOwned's FK without its own index: alert_tenant_recent (tenant_id, started_at) leads with it.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    # Fleet-health alerts (device_offline, stream_lost) have no event_id; ended_at is set when
    # the device or stream is back (detection.health).
    kind = models.CharField(max_length=16, choices=AlertKind.choices, default=AlertKind.ANOMALY)
    camera = models.ForeignKey("cameras.Camera", on_delete=models.CASCADE, related_name="alerts")
    zone = models.ForeignKey("cameras.Zone", on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    peak_score = models.FloatField()
    # {"flow": {"score": 1.7, "vote": true, "evidence": [...]}, ...}
    per_model = models.JSONField(default=dict)
    boxes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    reason_code = models.CharField(max_length=32, choices=ReasonCode.choices, blank=True)
    note = models.TextField(blank=True)
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", db_index=False)
    handled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Edge ingest: the device that sent it and the agent's globally unique event id (UUIDv7);
    # (device, event_id) is unique, so a replayed event_open never makes a second alert.
    device = models.ForeignKey("cameras.EdgeDevice", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="alerts", db_index=False)
    event_id = models.CharField(max_length=64, null=True, blank=True)
    # {"t0": ..., "dt": ..., "scores": [...], "threshold": ...}: the score curve around the event
    curve = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Every index is paid on each ingested alert (COPY), so each one serves a query that needs
        # it (migration 0006 dropped six that none did; see its docstring). Every read of the
        # scoped manager filters by tenant, so single-column indexes on started_at, status and kind
        # (and tenant alone) were redundant with alert_tenant_recent or too unselective to be used.
        ordering = ["-started_at", "-id"]
        indexes = [
            # portal/API lists, KPIs, retention: tenant = X [AND status/kind/range] ORDER BY started_at DESC
            models.Index(fields=["tenant", "-started_at"], name="alert_tenant_recent"),
            # fleet sweep: the tenant's open device_offline alerts (never an ingested row: not maintained by COPY)
            models.Index(fields=["tenant"], name="alert_offline_open",
                         condition=models.Q(kind=AlertKind.DEVICE_OFFLINE, ended_at=None)),
            # deleting a user sets handled_by NULL (ingested alerts are unhandled: not maintained by COPY)
            models.Index(fields=["handled_by"], name="alert_handled_by",
                         condition=models.Q(handled_by__isnull=False)),
        ]
        constraints = [
            # Ingest idempotency and its known-alert lookup; not partial, so it is also the device_id
            # index (fleet health by device, SET_NULL on device delete). NULL event ids (fleet-health
            # alerts) are distinct, as before.
            models.UniqueConstraint(fields=["device", "event_id"], name="alert_event_unique_per_device"),
        ]

    def __str__(self) -> str:
        return f"alert {self.id} on camera {self.camera_id} ({self.status})"


class ModelArtifact(TenantOwned):
    """A model bundle (``vad-edge train`` output, a ``.tar.gz`` with ``manifest.json``) in the
    ``bundles`` storage (``settings.STORAGES``: filesystem by default, S3 with ``S3_BUCKET``).

    ``sha256`` and ``size`` are of the stored file; ``capabilities`` are the union of the
    manifest's models' capabilities. Written only by ``detection.artifacts``.
    """

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    capabilities = models.JSONField(default=list)
    manifest = models.JSONField(default=dict)  # manifest.json as uploaded (models, scene, camera, training)
    storage_name = models.CharField(max_length=255)  # the file's name in storages["bundles"]
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name", "version"],
                                               name="model_artifact_version_unique_per_tenant")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class CameraBundle(TenantOwned):
    """The bundle a camera runs (at most one); its device's signed config references it."""

    camera = models.OneToOneField("cameras.Camera", on_delete=models.CASCADE, related_name="bundle_assignment")
    artifact = models.ForeignKey(ModelArtifact, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["camera_id"]

    def __str__(self) -> str:
        return f"camera {self.camera_id} runs artifact {self.artifact_id}"
