"""Celery: the beat job that signs a checkpoint of every tenant's audit chain that moved."""

from __future__ import annotations

from celery import shared_task

from compliance.audit_signing import platform_checkpoint_all


@shared_task(name="compliance.audit_tasks.platform_audit_checkpoints")
def platform_audit_checkpoints() -> int:
    """Platform job (all tenants): returns how many checkpoints were made."""
    return platform_checkpoint_all()
