"""Rows of the exports/retention/erasure feature for tests that need one on file (BOLA rows)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from compliance.dpia import dpia_create
from compliance.erasure import erasure_execute
from compliance.exports import export_job_create
from compliance.models import Dpia, ErasureRequest, ExportJob, LegalHold
from compliance.retention import legal_hold_create
from compliance.tasks import export_job_run_task
from tenants.models import Membership, Role
from tenants.scope import tenant_scope


def officer(world: Any) -> Membership:
    """A compliance officer's membership of ``world`` (made if the world has none)."""
    with tenant_scope(world.tenant.id):
        member = Membership.objects.filter(role=Role.COMPLIANCE_OFFICER).select_related("user").first()
    if member is None:
        world.add(f"{world.tenant.slug}-dpo", Role.COMPLIANCE_OFFICER)
        return officer(world)
    return member


def make_dpia(world: Any) -> Dpia:
    with tenant_scope(world.tenant.id):
        return dpia_create(member=officer(world))


def make_hold(world: Any, **fields: Any) -> LegalHold:
    fields.setdefault("camera", world.other_camera)
    fields.setdefault("starts_at", timezone.now() - timedelta(days=400))
    with tenant_scope(world.tenant.id):
        return legal_hold_create(member=officer(world), reason="litigation hold, case 17", **fields)


def make_erasure(world: Any) -> ErasureRequest:
    now = timezone.now()
    with tenant_scope(world.tenant.id):
        return erasure_execute(member=officer(world), camera_id=world.camera.id, starts_at=now - timedelta(days=900),
                               ends_at=now - timedelta(days=800), basis="gdpr_art17", reason="data subject request")


def use_tmp_export_storage(settings: Any, root: Path) -> Path:  # noqa: ANN401
    """Point the default storage (where export jobs write their files) at ``root`` for one test."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}}
    return root


def make_export_job(world: Any) -> ExportJob:
    """A finished records CSV export (the task runs here: a test's transaction never commits)."""
    with tenant_scope(world.tenant.id):
        job = export_job_create(member=officer(world), kind="records_csv")
    export_job_run_task(tenant_id=world.tenant.id, job_id=job.id)
    with tenant_scope(world.tenant.id):
        return ExportJob.objects.get(pk=job.pk)
