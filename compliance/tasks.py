"""Celery tasks of the compliance app (thin: ids in, a service does the work).

* ``compliance.export_job_run`` - one export job (compliance.exports), in the job's tenant scope.
* ``compliance.retention_purge_all`` - the beat job (settings ``CELERY_BEAT_SCHEDULE``): purges
  every tenant's expired alerts in batches, honouring legal holds (compliance.retention).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tenants.tasking import tenant_task


@tenant_task(name="compliance.export_job_run")
def export_job_run_task(*, tenant_id: int, job_id: int) -> str:
    from compliance.exports import export_job_run

    return export_job_run(job_id=job_id).status


@shared_task(name="compliance.retention_purge_all")
def retention_purge_all_task(*, batch_size: int = 500) -> dict[str, Any]:
    from compliance.retention import retention_purge_all

    runs = retention_purge_all(batch_size=batch_size)
    return {str(tenant_id): {"deleted": r["alerts_deleted"], "held_back": r["alerts_held_back"],
                             "scene_images_deleted": r["scene_images_deleted"]}
            for tenant_id, r in runs.items()}


@shared_task(name="compliance.consent_expiry_push_all")
def consent_expiry_push_all_task(*, window_s: float | None = None) -> int:
    """Beat job: push the devices of sites whose consents just expired (compliance.consents)."""
    from django.conf import settings

    from compliance.consents import platform_consent_expiry_push

    every = float(getattr(settings, "CONSENT_EXPIRY_CHECK_S", 60.0))
    return platform_consent_expiry_push(window_s=window_s if window_s is not None else 2 * every)
