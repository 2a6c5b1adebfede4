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
