"""Reads for devices, cameras, zones and shifts, limited to the member's visible sites."""

from __future__ import annotations

from django.db.models import QuerySet

from cameras.models import Camera, EdgeDevice, Shift, Zone
from tenants.models import Membership
from tenants.selectors import visible_site_ids


def _limit(qs: QuerySet, *, membership: Membership, site_field: str) -> QuerySet:
    site_ids = visible_site_ids(membership=membership)
    return qs if site_ids is None else qs.filter(**{f"{site_field}__in": site_ids})


def camera_list(*, membership: Membership) -> QuerySet[Camera]:
    return _limit(Camera.objects.select_related("site"), membership=membership, site_field="site_id")


def device_list(*, membership: Membership) -> QuerySet[EdgeDevice]:
    return _limit(EdgeDevice.objects.all(), membership=membership, site_field="site_id")


def zone_list(*, membership: Membership) -> QuerySet[Zone]:
    return _limit(Zone.objects.all(), membership=membership, site_field="camera__site_id")


def shift_list(*, membership: Membership) -> QuerySet[Shift]:
    return _limit(Shift.objects.all(), membership=membership, site_field="site_id")
