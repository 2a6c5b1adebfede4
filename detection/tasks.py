"""Celery tasks of the detection app (they take ids, never model instances)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from detection.health import fleet_health_sweep
from tenants.models import Tenant

FLEET_HEALTH_TASK = "detection.fleet_health_sweep_all"


@shared_task(name=FLEET_HEALTH_TASK)
def platform_fleet_health_sweep() -> dict[str, int]:
    """Platform job, run by celery beat every ``EDGE_OFFLINE_CHECK_S`` (settings
    ``CELERY_BEAT_SCHEDULE``): every tenant's devices silent for ``EDGE_OFFLINE_AFTER_S`` seconds
    go offline with one ``device_offline`` alert each; alerts of devices back online end.
    Returns the totals over all tenants."""
    window = float(getattr(settings, "EDGE_OFFLINE_AFTER_S", 60.0))
    totals = {"offline": 0, "opened": 0, "ended": 0}
    for tenant_id in Tenant.objects.values_list("id", flat=True):
        for key, value in fleet_health_sweep(tenant_id=tenant_id, window_s=window).items():
            totals[key] += value
    return totals
