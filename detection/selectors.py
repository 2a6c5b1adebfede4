"""Reads for alerts."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from detection.models import Alert
from tenants.models import Membership
from tenants.selectors import visibility


def alert_list(*, membership: Membership, site_id: int | None = None, camera_id: int | None = None,
               status: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> QuerySet[Alert]:
    qs = visibility(membership=membership).limit(
        Alert.objects.select_related("camera", "camera__site", "zone", "handled_by"),
        site_field="camera__site_id", camera_field="camera_id",
    )
    if site_id is not None:
        qs = qs.filter(camera__site_id=site_id)
    if camera_id is not None:
        qs = qs.filter(camera_id=camera_id)
    if status:
        qs = qs.filter(status=status)
    if since is not None:
        qs = qs.filter(started_at__gte=since)
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    return qs


def alert_get(*, membership: Membership, alert_id: int) -> Alert:
    """One alert the member may see; another tenant's, another site's or none: ``NotFound``."""
    from tenants.errors import NotFound

    alert = alert_list(membership=membership).filter(id=alert_id).first()
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert
