"""Compliance data. Each feature keeps its models in its own commented section below."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.scope import ScopedManager, TenantOwned

# === Audit log (compliance/audit.py writes these; see its docstring) ===========================


class AppendOnlyError(RuntimeError):
    """An attempt to change or remove an audit row: the log is append-only."""


class AppendOnlyQuerySet(models.QuerySet):
    """No bulk update or delete of audit rows through the ORM (PostgreSQL also has a trigger)."""

    def update(self, **kwargs):  # noqa: ANN003, ANN201
        raise AppendOnlyError(f"{self.model.__name__} is append-only: queryset.update() is refused")

    def delete(self):  # noqa: ANN201
        raise AppendOnlyError(f"{self.model.__name__} is append-only: queryset.delete() is refused")

    def bulk_update(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise AppendOnlyError(f"{self.model.__name__} is append-only: bulk_update() is refused")

    _raw_delete = delete  # the cascade collector's fast path


AppendOnlyScopedManager = ScopedManager.from_queryset(AppendOnlyQuerySet)  # scoped + append-only


class AppendOnly(TenantOwned):
    """Rows are inserted once, never updated or deleted (save of an existing row raises)."""

    objects = AppendOnlyScopedManager()
    unscoped_objects = models.Manager.from_queryset(AppendOnlyQuerySet)()  # platform jobs only

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # noqa: ANN002, ANN003
        if self.pk is not None or not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} is append-only: an existing row cannot be saved")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise AppendOnlyError(f"{type(self).__name__} is append-only: delete() is refused")


class AuditChainHead(TenantOwned):
    """One row per tenant: the last seq and hash. Writers lock it (select_for_update) to append."""

    seq = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="audit_chain_head_one_per_tenant")]


class AuditEntry(AppendOnly):
    """One recorded action. ``hash`` = SHA-256 of the canonical JSON of the fields + ``prev_hash``."""

    seq = models.PositiveBigIntegerField()
    ts = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)  # a user id; kept if the user goes
    actor = models.CharField(max_length=200, blank=True)  # username (or "device:<id>")
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="audit_entry_seq_unique_per_tenant")]
        indexes = [models.Index(fields=["tenant", "action", "seq"], name="audit_entry_action_idx"),
                   models.Index(fields=["tenant", "ts"], name="audit_entry_ts_idx")]
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditCheckpoint(AppendOnly):
    """A signed statement "tenant T's chain had head ``head_hash`` at ``seq``", chained by signature."""

    seq = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    prev_signature = models.TextField(blank=True)  # the previous checkpoint's signature ("" first)
    ts = models.DateTimeField()
    key_id = models.CharField(max_length=200)
    signature = models.TextField()  # base64 Ed25519 over compliance.audit.checkpoint_payload()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="audit_checkpoint_seq_unique")]
        ordering = ["seq"]


# === end of audit log ==========================================================================


# === Exports, retention, erasure (compliance/dpia.py, records.py, exports.py, retention.py, erasure.py) ==


class Dpia(TenantOwned):
    """One version of the tenant's DPIA, generated from the live configuration (GDPR Art. 35(7)).

    ``config_snapshot`` holds the configuration sections the DPIA describes and
    ``config_fingerprint`` their SHA-256; a later change of the live configuration makes the
    version stale (``compliance.dpia.dpia_staleness`` says what changed).
    """

    version = models.PositiveIntegerField()
    content = models.JSONField()
    config_snapshot = models.JSONField()
    config_fingerprint = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    signed_by_name = models.CharField(max_length=200, blank=True)  # the DPO's name as printed on the sign-off
    signed_at = models.DateTimeField(null=True, blank=True)
    dpo_opinion = models.TextField(blank=True)
    review_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "version"], name="dpia_version_unique_per_tenant")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"DPIA v{self.version} of tenant {self.tenant_id}"


class ExportKind(models.TextChoices):
    DPIA_PDF = "dpia_pdf", "DPIA (PDF)"
    DPIA_JSON = "dpia_json", "DPIA (JSON)"
    RECORDS_CSV = "records_csv", "Record of processing, Art. 30 (CSV)"
    RECORDS_PDF = "records_pdf", "Record of processing, Art. 30 (PDF)"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ExportJob(TenantOwned):
    """A long export run by a Celery task; the file goes to default storage (filesystem or S3)."""

    kind = models.CharField(max_length=16, choices=ExportKind.choices)
    dpia = models.ForeignKey(Dpia, on_delete=models.CASCADE, null=True, blank=True, related_name="exports")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    file_name = models.CharField(max_length=300, blank=True)  # the storage name
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.kind} #{self.pk} ({self.status})"


class RetentionSettings(TenantOwned):
    """The tenant's own retention periods, in days; the jurisdictions' ceilings cap them."""

    alert_metadata_days = models.PositiveIntegerField(default=90)
    scene_image_days = models.PositiveIntegerField(default=3)
    biometric_template_days = models.PositiveIntegerField(default=365)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="retention_settings_one_per_tenant")]

    def __str__(self) -> str:
        return f"retention of tenant {self.tenant_id}"


class LegalHold(TenantOwned):
    """Data of a camera (or of every camera of a site) in [starts_at, ends_at] must not be deleted."""

    camera = models.ForeignKey("cameras.Camera", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    site = models.ForeignKey("tenants.Site", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    reason = models.TextField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="None: open-ended")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(camera__isnull=False, site__isnull=True)
                           | models.Q(camera__isnull=True, site__isnull=False)),
                name="legal_hold_camera_xor_site"),
        ]

    def __str__(self) -> str:
        return f"legal hold #{self.pk}"


class ErasureBasis(models.TextChoices):
    GDPR_ART17 = "gdpr_art17", "GDPR Art. 17 (right to erasure)"
    BIPA_DESTRUCTION = "bipa_destruction", "740 ILCS 14/15(a) (BIPA destruction)"
    OTHER = "other", "Other (stated in the reason)"


class ErasureRequest(TenantOwned):
    """An executed erasure of a camera's alerts in a time range, with its proof of deletion."""

    camera = models.ForeignKey("cameras.Camera", on_delete=models.SET_NULL, null=True, related_name="+")
    camera_name = models.CharField(max_length=200)  # kept when the camera goes
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    basis = models.CharField(max_length=32, choices=ErasureBasis.choices)
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    deleted_count = models.PositiveIntegerField(default=0)
    deleted_ids_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"erasure request #{self.pk}"


# === end of exports, retention, erasure ========================================================


# === Policy: consent records and the tenant's own stricter settings (compliance/policy.py) ======


class ConsentKind(models.TextChoices):
    """Ordered weakest to strongest; a stronger record satisfies a weaker requirement (compliance.policy)."""

    NOTICE_OPT_OUT = "notice_opt_out", "Notice with an opt-out (RCW 19.375)"
    EXPLICIT_CONSENT = "explicit_consent", "Explicit consent (GDPR Art. 9(2)(a), CUBI, C.R.S. 6-1-1314)"
    WRITTEN_RELEASE = "written_release", "Written release (740 ILCS 14/15(b))"


class Consent(TenantOwned):
    """Consent on file for one capability at one site, for one purpose.

    The signed documents stay with the tenant; ``document_sha256`` pins which one this record
    stands for. A record counts from ``signed_at`` until ``expires_at`` or ``withdrawn_at``.
    """

    site = models.ForeignKey("tenants.Site", on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=200)
    capability = models.CharField(max_length=64)
    kind = models.CharField(max_length=24, choices=ConsentKind.choices)
    document_sha256 = models.CharField(max_length=64)
    signer = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [models.Index(fields=["tenant", "site", "capability"], name="consent_scope_idx")]

    def __str__(self) -> str:
        return f"consent #{self.pk} ({self.kind}, {self.capability})"


class TenantPrivacySettings(TenantOwned):
    """The tenant's own rules on top of the jurisdictions': it can only forbid more, never allow more."""

    forbidden_capabilities = models.JSONField(default=list, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="privacy_settings_one_per_tenant")]

    def __str__(self) -> str:
        return f"privacy settings of tenant {self.tenant_id}"


# === end of policy ==============================================================================
