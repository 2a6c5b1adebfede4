"""Reads for devices, cameras, zones and shifts, limited to the member's visible sites."""

from __future__ import annotations

from django.db.models import QuerySet

from cameras.models import Camera, EdgeDevice, Shift, Zone
from tenants.models import Membership
from tenants.selectors import visibility


def camera_list(*, membership: Membership) -> QuerySet[Camera]:
    return visibility(membership=membership).limit(
        Camera.objects.select_related("site", "device"), site_field="site_id", camera_field="id"
    )


def device_list(*, membership: Membership) -> QuerySet[EdgeDevice]:
    return visibility(membership=membership).limit(EdgeDevice.objects.all(), site_field="site_id")


def zone_list(*, membership: Membership) -> QuerySet[Zone]:
    return visibility(membership=membership).limit(
        Zone.objects.all(), site_field="camera__site_id", camera_field="camera_id"
    )


def shift_list(*, membership: Membership) -> QuerySet[Shift]:
    return visibility(membership=membership).limit(Shift.objects.all(), site_field="site_id")


def device_command_list(*, membership: Membership, device_id: int) -> QuerySet:
    """The commands sent to one visible device, newest first; raises NotFound for any other device."""
    from cameras.models import DeviceCommand
    from tenants.errors import NotFound

    if not device_list(membership=membership).filter(id=device_id).exists():
        raise NotFound(f"device {device_id} not found")
    return DeviceCommand.objects.filter(device_id=device_id).order_by("-sent_at", "-id")
