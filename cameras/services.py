"""Writes for cameras (with their zones) and edge devices. One transaction each: nothing half-written.

Every function takes the acting ``member`` and checks the role (``NotAllowed``) and that the
objects it touches are visible to the member (``NotFound``). The camera/device invariant lives
here, for every write path: a camera's device is at the camera's site.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cameras.models import Camera, EdgeDevice, Zone
from cameras.selectors import camera_list, device_list
from tenants.errors import InvalidInput, NotFound
from tenants.models import Membership, Site
from tenants.roles import Action, require
from tenants.selectors import visibility


def _check_site_and_device(*, member: Membership, site: Site, device: EdgeDevice | None) -> None:
    if not visibility(membership=member).sees(site_id=site.id):
        raise InvalidInput.field("site", f"site {site.id} not found")
    if device is not None and device.site_id != site.id:
        raise InvalidInput.field(
            "device", f"device {device.name!r} is at another site than the camera; choose a device of "
                      f"site {site.name!r} or set device to null")


def camera_create(*, member: Membership, zones: list[dict[str, Any]] | None = None, **fields: Any) -> Camera:
    require(member, Action.MANAGE_SITES)
    _check_site_and_device(member=member, site=fields["site"], device=fields.get("device"))
    with transaction.atomic():
        camera = Camera.objects.create(tenant_id=member.tenant_id, **fields)
        for zone in zones or []:
            Zone.objects.create(tenant_id=member.tenant_id, camera=camera, **zone)
    return camera


def camera_update(*, member: Membership, camera_id: int, **fields: Any) -> Camera:
    """Change a camera. Moving it to another site keeps its device only if the device is there too."""
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        camera = camera_list(membership=member).select_for_update(of=("self",)).filter(id=camera_id).first()
        if camera is None:
            raise NotFound(f"camera {camera_id} not found")
        site = fields.get("site", camera.site)
        device = fields["device"] if "device" in fields else camera.device
        _check_site_and_device(member=member, site=site, device=device)
        for name, value in fields.items():
            setattr(camera, name, value)
        camera.save()
    return camera


def device_update(*, member: Membership, device_id: int, **fields: Any) -> EdgeDevice:
    """Change a device. It may move to another site only when no camera of the old site uses it."""
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        device = device_list(membership=member).select_for_update().filter(id=device_id).first()
        if device is None:
            raise NotFound(f"device {device_id} not found")
        site = fields.get("site", device.site)
        if not visibility(membership=member).sees(site_id=site.id):
            raise InvalidInput.field("site", f"site {site.id} not found")
        if site.id != device.site_id:
            stranded = list(Camera.objects.filter(device=device).exclude(site=site).values_list("name", flat=True))
            if stranded:
                raise InvalidInput.field(
                    "site", f"device {device.name!r} still serves camera(s) {sorted(stranded)} at its current "
                            f"site; move or detach them first")
        for name, value in fields.items():
            setattr(device, name, value)
        device.save()
    return device
