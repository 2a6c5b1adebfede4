"""Compliance exports: the DPIA (JSON, PDF) and the Art. 30 record (CSV, PDF), served at once or
run as an :class:`~compliance.models.ExportJob` by a Celery task with progress.

Every export writes a ``<what>.export`` audit entry (format, size and SHA-256 of the file). A job
runs with the role of the member who asked for it, checked again when it runs: a member whose role
was taken away meanwhile gets a failed job, not a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from compliance.audit import audit_record
from compliance.dpia import dpia_document, dpia_get, dpia_staleness
from compliance.models import Dpia, ExportJob, ExportKind, ExportStatus
from compliance.pdf import dpia_pdf, records_pdf
from compliance.records import records_csv, records_rows
from tenants.errors import Conflict, InvalidInput, NotFound
from tenants.models import Membership, Tenant
from tenants.roles import Action, require

CONTENT_TYPES = {"pdf": "application/pdf", "json": "application/json", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class ExportFile:
    data: bytes
    filename: str
    content_type: str


def _audit(member: Membership, what: str, fmt: str, out: ExportFile, target: object = None, **extra: object) -> None:
    audit_record(tenant_id=member.tenant_id, action=f"{what}.export", actor=member, target=target, format=fmt,
                 filename=out.filename, size=len(out.data), sha256=hashlib.sha256(out.data).hexdigest(), **extra)


def _dpia_file(dpia: Dpia, fmt: str, progress: Callable[[int], None] | None = None) -> ExportFile:
    staleness = dpia_staleness(dpia=dpia)
    document = dpia_document(dpia)
    name = f"dpia-v{dpia.version}"
    if fmt == "json":
        body = {**document, "config_fingerprint": dpia.config_fingerprint, "stale": staleness["stale"],
                "changes": staleness["changes"]}
        data = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False).encode()
        return ExportFile(data, f"{name}.json", CONTENT_TYPES["json"])
    if fmt == "pdf":
        data = dpia_pdf(document, fingerprint=dpia.config_fingerprint, stale=staleness["stale"], progress=progress)
        return ExportFile(data, f"{name}.pdf", CONTENT_TYPES["pdf"])
    raise InvalidInput.field("format", f"unknown DPIA format {fmt!r}; use 'json' or 'pdf'")


def _records_file(member: Membership, fmt: str) -> ExportFile:
    if fmt not in ("csv", "pdf"):
        raise InvalidInput.field("format", f"unknown format {fmt!r}; use 'csv' or 'pdf'")
    rows = records_rows(member=member)
    day = timezone.localdate().isoformat()
    if fmt == "csv":
        return ExportFile(records_csv(rows).encode(), f"records-of-processing-{day}.csv", CONTENT_TYPES["csv"])
    tenant = Tenant.objects.get(pk=member.tenant_id)
    data = records_pdf(rows, tenant_name=tenant.name, generated_at=timezone.now().isoformat(timespec="seconds"))
    return ExportFile(data, f"records-of-processing-{day}.pdf", CONTENT_TYPES["pdf"])


def dpia_export(*, member: Membership, dpia_id: int, fmt: str) -> ExportFile:
    dpia = dpia_get(member=member, dpia_id=dpia_id)
    out = _dpia_file(dpia, fmt)
    _audit(member, "dpia", fmt, out, target=dpia, version=dpia.version)
    return out


def records_export(*, member: Membership, fmt: str) -> ExportFile:
    require(member, Action.MANAGE_COMPLIANCE)
    out = _records_file(member, fmt)
    _audit(member, "records_of_processing", fmt, out, target="records_of_processing")
    return out


# --- jobs ----------------------------------------------------------------------------------------
def export_job_list(*, member: Membership) -> object:
    require(member, Action.MANAGE_COMPLIANCE)
    return ExportJob.objects.order_by("-created_at", "-id")


def export_job_create(*, member: Membership, kind: str, dpia_id: int | None = None) -> ExportJob:
    require(member, Action.MANAGE_COMPLIANCE)
    if kind not in ExportKind.values:
        raise InvalidInput.field("kind", f"unknown export kind {kind!r}; use one of {ExportKind.values}")
    dpia = None
    if kind.startswith("dpia_"):
        if dpia_id is None:
            raise InvalidInput.field("dpia", f"{kind} needs the id of a DPIA")
        dpia = dpia_get(member=member, dpia_id=dpia_id)
    elif dpia_id is not None:
        raise InvalidInput.field("dpia", f"{kind} takes no DPIA")
    from compliance.tasks import export_job_run_task

    with transaction.atomic():
        job = ExportJob.objects.create(tenant_id=member.tenant_id, kind=kind, dpia=dpia, created_by_id=member.user_id)
        transaction.on_commit(lambda: export_job_run_task.delay(tenant_id=member.tenant_id, job_id=job.pk))
    return job


def export_job_run(*, job_id: int) -> ExportJob:
    """The task body (inside the job's tenant scope): render, store, audit, with progress."""
    job = ExportJob.objects.select_related("dpia").get(pk=job_id)
    if job.status != ExportStatus.PENDING:
        return job  # a redelivered task (acks_late) finds the job already run

    def progress(percent: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(progress=percent)

    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, progress=5)
    try:
        member = Membership.objects.select_related("user").filter(user_id=job.created_by_id).first()
        if member is None:
            raise NotFound("the member who asked for this export is no longer in the tenant")
        require(member, Action.MANAGE_COMPLIANCE)
        fmt = job.kind.rsplit("_", 1)[1]
        progress(20)
        if job.kind.startswith("dpia_"):
            out = _dpia_file(job.dpia, fmt, progress=progress)
        else:
            out = _records_file(member, fmt)
        progress(90)
        stored = default_storage.save(f"compliance-exports/{job.tenant_id}/{job.pk}-{out.filename}",
                                      ContentFile(out.data))
        with transaction.atomic():
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportStatus.DONE, progress=100, file_name=stored, finished_at=timezone.now(),
                sha256=hashlib.sha256(out.data).hexdigest())
            _audit(member, "dpia" if job.dpia_id else "records_of_processing", fmt, out,
                   target=job.dpia if job.dpia_id else "records_of_processing", export_job=job.pk)
    except Exception as err:  # noqa: BLE001 - the job says why it failed; nothing is half-stored
        detail = getattr(err, "detail", None) or f"{type(err).__name__}: {err}"
        ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.FAILED, error=str(detail)[:2000],
                                                   finished_at=timezone.now())
    return ExportJob.objects.get(pk=job.pk)


def export_job_file(*, member: Membership, job_id: int) -> ExportFile:
    job = export_job_list(member=member).select_related("dpia").filter(pk=job_id).first()
    if job is None:
        raise NotFound("export not found")
    if job.status != ExportStatus.DONE:
        raise Conflict(f"export #{job.pk} is {job.status} ({job.progress}%)"
                       + (f": {job.error}" if job.error else "; try again when it is done"))
    with default_storage.open(job.file_name, "rb") as handle:
        data = handle.read()
    fmt = job.kind.rsplit("_", 1)[1]
    name = (f"dpia-v{job.dpia.version}" if job.dpia_id
            else f"records-of-processing-{timezone.localdate(job.created_at).isoformat()}")
    return ExportFile(data, f"{name}.{fmt}", CONTENT_TYPES[fmt])
