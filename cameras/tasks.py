"""Celery tasks of the cameras app (they take ids, never model instances)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from cameras.services import devices_mark_offline
from tenants.models import Tenant


@shared_task(name="cameras.devices_mark_offline_all")
def platform_devices_mark_offline() -> int:
    """Platform job: every tenant's devices that sent nothing for ``EDGE_OFFLINE_AFTER_S`` seconds
    become offline. Returns how many changed. Beat runs ``detection.fleet_health_sweep_all``
    instead, which does the same and opens the offline alerts; this one opens none."""
    window = float(getattr(settings, "EDGE_OFFLINE_AFTER_S", 60.0))
    return sum(devices_mark_offline(tenant_id=tenant_id, window_s=window)
               for tenant_id in Tenant.objects.values_list("id", flat=True))
