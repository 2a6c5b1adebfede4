"""Fleet health: device offline/online and camera stream lost/restored become alerts.

- :func:`fleet_health_sweep` (Celery beat, ``detection.fleet_health_sweep_all``): the tenant's
  online devices silent for ``EDGE_OFFLINE_AFTER_S`` seconds become offline, each with ONE open
  ``device_offline`` alert; an open one whose device is online again is ended. Repeated sweeps
  change nothing more (a device already offline is not "going offline" again).
- :func:`device_online` (the edge handshake): the device is online and its open offline alert ends
  at once, without waiting for the next sweep.
- :func:`stream_state_apply` (edge ingest, inside the frame's transaction): a ``stream_status``
  sets the camera's ``stream_state`` (and since when, only on a change); ``lost``/``failed``
  opens one ``stream_lost`` alert, ``opened``/``restored`` ends it.

An alert belongs to a camera (the wall filters by camera and site), so a device's offline alert
is filed under its first camera (lowest id); a device with no camera gets no alert, only its
status. Pushes are coalesced: one ``alerts.changed`` and one ``devices.changed`` group message
per tenant per sweep, never one per device.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from cameras.models import Camera, DeviceStatus, EdgeDevice, StreamState
from cameras.services import device_connected, devices_went_offline
from detection.live import alerts_push, devices_push
from detection.models import Alert, AlertKind
from tenants.scope import tenant_scope

logger = logging.getLogger(__name__)

STREAM_STATES = {"opened": StreamState.LIVE, "restored": StreamState.LIVE, "lost": StreamState.LOST,
                 "failed": StreamState.FAILED, "ended": StreamState.ENDED}
STREAM_DOWN = {StreamState.LOST, StreamState.FAILED}


def device_payload(device: EdgeDevice) -> dict[str, Any]:
    """What an alert wall shows of a device (pushed as ``devices``)."""
    return {"id": device.id, "site": device.site_id, "name": device.name, "status": device.status,
            "last_seen_at": device.last_seen_at.isoformat() if device.last_seen_at else None}


def _push(tenant_id: int, alerts: list[Alert], devices: list[EdgeDevice]) -> None:
    if alerts:
        from detection.api.serializers import AlertSerializer

        alerts_push(tenant_id=tenant_id, payloads=[dict(row) for row in AlertSerializer(alerts, many=True).data])
    devices_push(tenant_id=tenant_id, payloads=[device_payload(d) for d in devices])


def _end_offline_alerts(devices: list[EdgeDevice]) -> list[Alert]:
    """End the open device_offline alerts of these (online) devices, at their last contact."""
    by_id = {d.id: d for d in devices}
    ended = list(Alert.objects.select_related("camera", "zone", "handled_by")
                 .filter(kind=AlertKind.DEVICE_OFFLINE, device_id__in=list(by_id), ended_at=None))
    now = timezone.now()
    for alert in ended:
        alert.ended_at = by_id[alert.device_id].last_seen_at or now  # type: ignore[index]
        alert.save(update_fields=["ended_at", "updated_at"])
    return ended


def fleet_health_sweep(*, tenant_id: int, window_s: float) -> dict[str, int]:
    """One sweep of one tenant: ``{"offline": devices that went offline, "opened": alerts
    opened, "ended": alerts ended}``."""
    with tenant_scope(tenant_id), transaction.atomic():
        went = devices_went_offline(tenant_id=tenant_id, window_s=window_s)
        opened: list[Alert] = []
        if went:
            already = set(Alert.objects.filter(kind=AlertKind.DEVICE_OFFLINE, device_id__in=went, ended_at=None)
                          .values_list("device_id", flat=True))
            first_camera: dict[int, Camera] = {}
            for camera in Camera.objects.select_related("site").filter(device_id__in=went).order_by("device_id", "id"):
                first_camera.setdefault(camera.device_id, camera)  # type: ignore[arg-type]
            devices = list(EdgeDevice.objects.filter(id__in=went))
            for device in devices:
                camera = first_camera.get(device.id)
                if device.id in already or camera is None:
                    continue
                opened.append(Alert.objects.create(
                    kind=AlertKind.DEVICE_OFFLINE, camera=camera, device=device, peak_score=0.0,
                    started_at=device.last_seen_at or timezone.now(),
                    note=f"device {device.name!r} sent nothing for {window_s:g} s"))
        else:
            devices = []
        back = list(EdgeDevice.objects.filter(
            status=DeviceStatus.ONLINE, id__in=Alert.objects.filter(
                kind=AlertKind.DEVICE_OFFLINE, ended_at=None).values("device_id")))
        ended = _end_offline_alerts(back)
        if opened or ended or devices:
            _push(tenant_id, [*opened, *ended], [*devices, *back])
    if went or ended:
        logger.info("fleet.sweep", extra={"tenant_id": tenant_id, "offline": len(went), "opened": len(opened),
                                          "ended": len(ended)})
    return {"offline": len(went), "opened": len(opened), "ended": len(ended)}


def device_online(*, device: EdgeDevice, agent_version: str) -> None:
    """The device completed the edge handshake: online now; its open offline alert ends."""
    device_connected(device=device, agent_version=agent_version)
    with tenant_scope(device.tenant_id), transaction.atomic():
        fresh = EdgeDevice.objects.filter(id=device.id, status=DeviceStatus.ONLINE).first()
        if fresh is None:
            return
        ended = _end_offline_alerts([fresh])
        if ended:
            _push(device.tenant_id, ended, [fresh])


def _at(ts: float, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def stream_state_apply(*, device: EdgeDevice, camera: Camera, status: str, ts: float,
                       detail: str = "") -> list[Alert]:
    """Apply one ``stream_status`` of ``camera`` (inside the caller's transaction and scope);
    returns the alerts opened or ended (to push after the commit)."""
    state = STREAM_STATES.get(status)
    if state is None:
        return []
    at = _at(ts, timezone.now())
    if camera.stream_state != state:
        Camera.objects.filter(id=camera.id).update(stream_state=state, stream_state_since=at)
        camera.stream_state, camera.stream_state_since = state, at
    open_alert = (Alert.objects.select_related("camera", "zone", "handled_by")
                  .filter(kind=AlertKind.STREAM_LOST, camera_id=camera.id, ended_at=None).first())
    if state in STREAM_DOWN and open_alert is None:
        return [Alert.objects.create(kind=AlertKind.STREAM_LOST, camera=camera, device=device, peak_score=0.0,
                                     started_at=at, note=f"stream {status}: {detail}"[:2000])]
    if state == StreamState.LIVE and open_alert is not None:
        open_alert.ended_at = at
        open_alert.save(update_fields=["ended_at", "updated_at"])
        return [open_alert]
    return []


__all__ = ["device_online", "device_payload", "fleet_health_sweep", "stream_state_apply"]
