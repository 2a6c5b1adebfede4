"""Edge devices, cameras, zones/masks and shifts. All tenant-owned."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from cameras.crypto import EncryptedTextField
from tenants.scope import TenantOwned


class DeviceStatus(models.TextChoices):
    PENDING = "pending", "Pending enrollment"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    DISABLED = "disabled", "Disabled"


class EdgeDevice(TenantOwned):
    site = models.ForeignKey("tenants.Site", on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.PENDING)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Enrollment: the device's Ed25519 public key (raw 32 bytes, base64) registered with a
    # one-time token; every /ws/edge/ connection proves it holds the private key.
    public_key = models.CharField(max_length=64, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The highest outbox seq committed for this device: messages arrive in seq order on a
    # connection, so any seq <= last_seq is a duplicate (idempotency by (device, seq)).
    last_seq = models.BigIntegerField(default=0)
    agent_version = models.CharField(max_length=64, blank=True)
    # The latest heartbeat (coalesced: written at most every HEARTBEAT_FLUSH_S, not per message).
    health = models.JSONField(default=dict, blank=True)
    config_version = models.BigIntegerField(default=0)  # last signed config version pushed
    config_sha256 = models.CharField(max_length=64, blank=True)  # of that version's payload (edgeconfig)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="device_name_unique_per_site")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EnrollmentToken(TenantOwned):
    """A one-time, short-lived secret that lets one edge box register its public key.

    Only the SHA-256 of the token is stored; the admin sees the token once, in the install command.
    """

    device = models.ForeignKey(EdgeDevice, on_delete=models.CASCADE, related_name="enrollment_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"enrollment token for device {self.device_id}"


class SceneClass(models.TextChoices):
    INDOOR = "indoor", "Indoor"
    OUTDOOR = "outdoor", "Outdoor"
    PARKING = "parking", "Parking"
    RETAIL = "retail", "Retail"


class StreamState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    LIVE = "live", "Live"  # opened or restored
    LOST = "lost", "Lost"
    FAILED = "failed", "Failed"
    ENDED = "ended", "Ended"


class CameraContext(models.TextChoices):
    """Where the camera looks; decides context rules such as AI Act Art. 5(1)(f) (compliance.policy)."""

    UNSPECIFIED = "unspecified", "Not set (every context rule applies)"
    WORKPLACE = "workplace", "Workplace"
    EDUCATION = "education", "Education"
    PUBLIC_SPACE = "public_space", "Public space"
    PUBLICLY_ACCESSIBLE = "publicly_accessible", "Publicly accessible premises (shop, venue)"
    PRIVATE = "private", "Private premises"


class Camera(TenantOwned):
    site = models.ForeignKey("tenants.Site", on_delete=models.CASCADE, related_name="cameras")
    device = models.ForeignKey(EdgeDevice, on_delete=models.SET_NULL, null=True, blank=True, related_name="cameras")
    name = models.CharField(max_length=200)
    # Full stream URL including credentials, encrypted at rest (cameras.crypto).
    stream_url = EncryptedTextField(blank=True)
    width = models.PositiveIntegerField(default=1280, validators=[MinValueValidator(16), MaxValueValidator(8192)])
    height = models.PositiveIntegerField(default=720, validators=[MinValueValidator(16), MaxValueValidator(8192)])
    fps = models.FloatField(default=10.0, validators=[MinValueValidator(0.5), MaxValueValidator(240)])
    scene_class = models.CharField(max_length=16, choices=SceneClass.choices, default=SceneClass.INDOOR)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Fleet health: the last stream_status the device reported for this camera, and since when.
    stream_state = models.CharField(max_length=16, choices=StreamState.choices, default=StreamState.UNKNOWN)
    stream_state_since = models.DateTimeField(null=True, blank=True)
    # Scene reference image (a face-blurred temporal median, the only image that leaves a site,
    # and only where Site.scene_images_allowed): asked for at *_requested_at, stored at *_at.
    scene_image = models.FileField(upload_to="scene-images/", blank=True)
    scene_image_at = models.DateTimeField(null=True, blank=True)
    scene_image_requested_at = models.DateTimeField(null=True, blank=True)
    # Compliance (compliance.policy): the camera's context, the models it runs, and the human
    # oversight stop switch (AI Act Art. 14): a stopped camera, or a stopped model, leaves the
    # signed device config at once.
    context = models.CharField(max_length=24, choices=CameraContext.choices, default=CameraContext.UNSPECIFIED)
    edge_models = models.JSONField(null=True, blank=True,
                              help_text="edge model configs ([{'type': ..., 'name': ..., 'params': {...}}]); "
                                        "null: the agent's default set for the scene class")
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    stopped_models = models.JSONField(default=list, blank=True, help_text="names of models stopped by a person")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="camera_name_unique_per_site")]
        ordering = ["site_id", "name"]

    def __str__(self) -> str:
        return self.name


class ZoneKind(models.TextChoices):
    ROI = "roi", "Region of interest"
    PRIVACY_MASK = "privacy_mask", "Privacy mask"
    INTRUSION = "intrusion", "Intrusion"
    LOITERING = "loitering", "Loitering"
    LINE = "line", "Line crossing"


class Zone(TenantOwned):
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=ZoneKind.choices)
    # [[x, y], ...] normalised to 0..1; a polygon (>= 3 points) or, for kind=line, 2 points.
    points = models.JSONField()
    loiter_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["camera_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Shift(TenantOwned):
    """A weekly time window in the site's time zone with its own alert sensitivity."""

    site = models.ForeignKey("tenants.Site", on_delete=models.CASCADE, related_name="shifts")
    name = models.CharField(max_length=100)
    weekdays = models.JSONField(help_text="ISO weekdays 1 (Monday) .. 7 (Sunday)")
    start_time = models.TimeField()
    end_time = models.TimeField(help_text="may be earlier than start_time for overnight shifts")
    sensitivity = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="0 = fewest alerts, 1 = most; maps to the consensus threshold on the edge",
    )

    class Meta:
        ordering = ["site_id", "start_time"]

    def __str__(self) -> str:
        return self.name


class CommandAction(models.TextChoices):
    """What an admin can ask a connected edge agent to do (edge_agent.protocol.Command.action)."""

    RELOAD = "reload", "Reload the config (restart the cameras)"
    UNLOAD_MODEL = "unload_model", "Stop one model of one camera until the next config"
    DESTROY_BIOMETRIC_TEMPLATES = "destroy_biometric_templates", "Delete the biometric templates on the box"


class CommandStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # sent (or waiting for the device to connect); no result yet
    OK = "ok", "Done"
    ERROR = "error", "Failed"


class DeviceCommand(TenantOwned):
    """One command sent to an edge device, and the device's answer (a CommandResult)."""

    device = models.ForeignKey(EdgeDevice, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=32, choices=CommandAction.choices)
    args = models.JSONField(default=dict, blank=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    sent_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)  # last handed to a connected socket
    status = models.CharField(max_length=16, choices=CommandStatus.choices, default=CommandStatus.PENDING)
    result_message = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["device", "status"], name="devicecommand_device_status")]

    def __str__(self) -> str:
        return f"{self.action} -> device {self.device_id} ({self.status})"
