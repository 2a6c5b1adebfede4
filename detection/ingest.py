"""Edge ingest: what a device sends over ``/ws/edge/`` becomes alerts and device health.

``edge_ingest`` is the one entry point (the edge consumer calls it once per frame):

- ONE transaction per frame (a ``batch`` is one transaction); the device row is locked
  (``select_for_update``), so two connections of one device cannot interleave.
- Idempotent by ``(device, seq)``: any ``seq <= device.last_seq`` is ``duplicate``; and by
  ``(device, event_id)``: a second ``event_open`` of a known event is ``duplicate`` (no second alert).
- A message that cannot be applied (another device's camera, an unknown camera, no ``seq``) is
  ``rejected`` with the reason and still acked, so it never blocks the agent's queue.
- The returned ``Ack`` exists only once the transaction has committed (the function returns after
  ``atomic()`` exits); the alert-wall push is one ``group_send`` registered with ``on_commit``.
- Heartbeats are coalesced in-process (``HeartbeatCoalescer``): the latest one per device is
  written at most every ``EDGE_HEARTBEAT_FLUSH_S`` seconds, folded into the per-frame device
  UPDATE that advances ``last_seq`` anyway.

Time: the agent's ``start_ts``/``peak_ts``/``end_ts`` are seconds of the *stream* (source
timestamps), not wall clock. ``wall_ts`` is the wall clock of the peak frame; when given,
``started_at = wall_ts - (peak_ts - start_ts)`` and ``ended_at = wall_ts + (end_ts - peak_ts)``;
without it the server's ``now`` is used (for ``ended_at`` too).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from cameras.models import Camera, DeviceStatus, EdgeDevice, Zone
from cameras.selectors import device_cameras, device_zones
from cameras.services import device_command_finish
from detection.health import stream_state_apply
from detection.live import alerts_push
from detection.models import Alert
from edge_agent.protocol import (
    Ack,
    AckResult,
    CommandResult,
    EventClose,
    EventOpen,
    EventUpdate,
    Heartbeat,
    StreamStatus,
)
from tenants.errors import NotAllowed, NotAuthenticated
from tenants.scope import tenant_scope

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.05, 0.2, 0.5)  # a frame whose transaction hit a lock is tried again, then refused
MAX_COMMAND_RESULTS = 50  # kept in device.health["commands"], newest last
_ALERT_UPDATE_FIELDS = ["peak_score", "per_model", "boxes", "curve", "zone", "ended_at", "updated_at"]


def heartbeat_flush_s() -> float:
    return float(getattr(settings, "EDGE_HEARTBEAT_FLUSH_S", 5.0))


class HeartbeatCoalescer:
    """The latest heartbeat per device, written at most every ``interval`` seconds.

    In-process: a device is connected to one server process at a time. ``offer`` stores the
    newest beat; ``take_due`` hands it out when the device's last flush is old enough (the first
    beat of a device is due at once, so a device shows up online without waiting).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, Heartbeat] = {}
        self._flushed_at: dict[int, float] = {}

    def offer(self, device_id: int, beat: Heartbeat) -> None:
        with self._lock:
            current = self._pending.get(device_id)
            if current is None or (beat.seq or 0) >= (current.seq or 0):
                self._pending[device_id] = beat

    def take_due(self, device_id: int, *, force: bool = False) -> Heartbeat | None:
        now = time.monotonic()
        with self._lock:
            if device_id not in self._pending:
                return None
            last = self._flushed_at.get(device_id)
            if not force and last is not None and now - last < heartbeat_flush_s():
                return None
            self._flushed_at[device_id] = now
            return self._pending.pop(device_id)

    def put_back(self, device_id: int, beat: Heartbeat) -> None:
        """A flush whose transaction failed: keep the beat for the next one."""
        self.offer(device_id, beat)
        with self._lock:
            self._flushed_at.pop(device_id, None)


heartbeats = HeartbeatCoalescer()


@dataclass
class IngestResult:
    ack: Ack
    alerts_changed: int = 0
    results: list[AckResult] = field(default_factory=list)


class _Rejected(Exception):  # noqa: N818 - control flow inside edge_ingest only
    pass


def _wall(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _Rejected(f"wall_ts {ts!r} is not a usable time (seconds since the epoch)") from None


def _per_model(msg: EventOpen | EventUpdate | EventClose) -> dict[str, Any]:
    """The shape the portal shows: {model: {score, vote, evidence: [...]}} (+ type, weight)."""
    return {m.model: {"score": m.score, "vote": m.voted, "type": m.type, "weight": m.weight,
                      "evidence": [e.model_dump() for e in m.evidence]} for m in msg.models}


def _boxes(msg: EventOpen | EventUpdate | EventClose) -> list[list[int]]:
    return [[b.x, b.y, b.w, b.h] for b in msg.boxes]


def _camera_id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


class _Frame:
    """The state of one frame's transaction: the locked device, its cameras, touched alerts."""

    def __init__(self, device: EdgeDevice, messages: list[Any]) -> None:
        self.device = device
        self.now = timezone.now()
        ids = {_camera_id(m.camera_id) for m in messages if hasattr(m, "camera_id")} - {None}
        self.cameras: dict[int, Camera] = device_cameras(device=device, camera_ids=list(ids))  # type: ignore[arg-type]
        self.zones: dict[tuple[int, str], Zone] = device_zones(camera_ids=list(self.cameras))
        event_ids = [m.event_id for m in messages if hasattr(m, "event_id")]
        self.alerts: dict[str, Alert] = {
            a.event_id: a for a in Alert.objects.select_related("camera__site", "zone")
            .filter(device_id=device.id, event_id__in=event_ids)} if event_ids else {}
        self.new: dict[str, Alert] = {}
        self.changed: dict[str, Alert] = {}
        self.health = dict(device.health or {})
        self.health_changed = False
        self.health_alerts: list[Alert] = []  # stream_lost opened/ended (detection.health), pushed too

    def camera(self, raw: str) -> Camera:
        camera = self.cameras.get(_camera_id(raw) or 0)
        if camera is None:
            raise _Rejected(f"camera {raw} is not one of this device's cameras")
        return camera

    def event(self, msg: EventOpen | EventUpdate | EventClose) -> str:
        camera = self.camera(msg.camera_id)
        alert = self.alerts.get(msg.event_id) or self.new.get(msg.event_id)
        if alert is not None and alert.camera_id != camera.id:
            raise _Rejected(f"event {msg.event_id} belongs to camera {alert.camera_id}, not {msg.camera_id}")
        if isinstance(msg, EventOpen) and alert is not None:
            return "duplicate"
        # every time first, so a rejection leaves nothing half-applied
        start_ts = getattr(msg, "start_ts", msg.peak_ts)
        started = _wall(msg.wall_ts - (msg.peak_ts - start_ts)) if msg.wall_ts is not None else self.now
        ended = None
        if isinstance(msg, EventClose):
            ended = _wall(msg.wall_ts + (msg.end_ts - msg.peak_ts)) if msg.wall_ts is not None else self.now
        zone = self.zones.get((camera.id, msg.zone)) if msg.zone else None
        if alert is None:  # an open, or an update/close whose open was dead-lettered or lost
            alert = Alert(tenant_id=self.device.tenant_id, camera=camera, device=self.device, event_id=msg.event_id,
                          started_at=started, peak_score=msg.peak_score, per_model=_per_model(msg),
                          boxes=_boxes(msg), curve=msg.curve.model_dump() if msg.curve else {}, zone=zone)
            self.new[msg.event_id] = alert
        else:
            if msg.peak_score >= alert.peak_score:  # the peak only goes up; its votes and boxes with it
                alert.peak_score = msg.peak_score
                if msg.models:
                    alert.per_model = _per_model(msg)
                if msg.boxes:
                    alert.boxes = _boxes(msg)
            if msg.curve is not None:
                alert.curve = msg.curve.model_dump()
            if zone is not None:
                alert.zone = zone
            alert.updated_at = self.now
            if alert.pk is not None:
                self.changed[msg.event_id] = alert
        if ended is not None:
            alert.ended_at = ended
        return "ok"

    def stream_status(self, msg: StreamStatus) -> str:
        camera = self.camera(msg.camera_id)
        streams = dict(self.health.get("streams") or {})
        streams[str(camera.id)] = {"status": msg.status, "ts": msg.ts, "attempt": msg.attempt, "detail": msg.detail,
                                   "seq": msg.seq}
        self.health["streams"] = streams
        self.health_changed = True
        self.health_alerts += stream_state_apply(device=self.device, camera=camera, status=msg.status, ts=msg.ts,
                                                 detail=msg.detail)
        return "ok"

    def command_result(self, msg: CommandResult) -> str:
        commands = [c for c in (self.health.get("commands") or []) if c.get("command_id") != msg.command_id]
        commands.append({"command_id": msg.command_id, "ok": msg.ok, "detail": msg.detail,
                         "at": self.now.isoformat()})
        self.health["commands"] = commands[-MAX_COMMAND_RESULTS:]
        self.health_changed = True
        device_command_finish(device=self.device, command_id=msg.command_id, ok=msg.ok, detail=msg.detail)
        return "ok"

    def apply(self, msg: Any) -> str:
        if isinstance(msg, EventOpen | EventUpdate | EventClose):
            return self.event(msg)
        if isinstance(msg, StreamStatus):
            return self.stream_status(msg)
        if isinstance(msg, CommandResult):
            return self.command_result(msg)
        if isinstance(msg, Heartbeat):
            heartbeats.offer(self.device.id, msg)
            return "ok"
        raise _Rejected(f"message type {getattr(msg, 'type', '?')!r} is not accepted here")


def _lock_device(device_id: int) -> EdgeDevice:
    device = EdgeDevice.objects.select_for_update().filter(id=device_id).first()
    if device is None:
        raise NotAuthenticated(f"device {device_id} is gone")
    if device.revoked_at is not None or device.status == DeviceStatus.DISABLED:
        raise NotAllowed(f"device {device_id} is revoked or disabled")
    return device


def edge_ingest(*, device_id: int, tenant_id: int, messages: list[Any],
                rejected: list[tuple[int, str]] | None = None) -> IngestResult:
    """Apply one frame's messages for ``device_id`` (already authenticated by the caller) in one
    transaction and return the ``Ack`` to send, valid once this function has returned.

    ``rejected``: (seq, error) of messages of this frame that failed validation; they are acked as
    ``rejected`` (and advance ``last_seq``) so the agent dead-letters them.
    Raises ``NotAllowed`` when the device was revoked or disabled meanwhile (close 4403).
    """
    entries: list[tuple[int, Any, str]] = [(m.seq, m, "") for m in messages if m.seq is not None]
    entries += [(seq, None, error) for seq, error in (rejected or [])]
    entries.sort(key=lambda e: e[0])
    for attempt in range(len(RETRY_DELAYS_S) + 1):
        try:
            return _ingest_once(device_id=device_id, tenant_id=tenant_id, entries=entries)
        except OperationalError:  # e.g. SQLite "database is locked": nothing was committed, retry
            if attempt == len(RETRY_DELAYS_S) or connection.in_atomic_block:
                raise
            logger.warning("edge.ingest_retry", extra={"device_id": device_id, "attempt": attempt + 1},
                           exc_info=True)
            time.sleep(RETRY_DELAYS_S[attempt])
    raise AssertionError("unreachable")


def _ingest_once(*, device_id: int, tenant_id: int, entries: list[tuple[int, Any, str]]) -> IngestResult:
    results: list[AckResult] = []
    beat: Heartbeat | None = None
    try:
        with tenant_scope(tenant_id), transaction.atomic():
            device = _lock_device(device_id)
            frame = _Frame(device, [m for _, m, _ in entries if m is not None])
            last_seq = device.last_seq
            for seq, msg, error in entries:
                if seq <= last_seq:
                    results.append(AckResult(seq=seq, status="duplicate"))
                    continue
                last_seq = seq
                if msg is None:
                    results.append(AckResult(seq=seq, status="rejected", error=error))
                    continue
                try:
                    status = frame.apply(msg)
                except _Rejected as err:
                    results.append(AckResult(seq=seq, status="rejected", error=str(err)))
                    continue
                results.append(AckResult(seq=seq, status=status))  # type: ignore[arg-type]
            created = Alert.objects.bulk_create(list(frame.new.values()))
            changed = list(frame.changed.values())
            if changed:
                Alert.objects.bulk_update(changed, _ALERT_UPDATE_FIELDS)
            update: dict[str, Any] = {"last_seq": last_seq, "last_seen_at": frame.now,
                                      "status": DeviceStatus.ONLINE}
            beat = heartbeats.take_due(device.id)
            if beat is not None:
                frame.health["heartbeat"] = beat.model_dump(exclude={"v", "type"})
                frame.health_changed = True
                update["agent_version"] = beat.agent_version[:64]
            if frame.health_changed:
                update["health"] = frame.health
            EdgeDevice.objects.filter(id=device.id).update(**update)
            touched = [*created, *changed, *frame.health_alerts]
            if touched:
                from detection.api.serializers import AlertSerializer

                # many=True: the fields are built once for the whole frame, not once per alert
                alerts_push(tenant_id=tenant_id, payloads=[dict(row) for row in AlertSerializer(touched, many=True).data])
    except Exception:
        if beat is not None:  # not written after all: keep it for the next flush
            heartbeats.put_back(device_id, beat)
        raise
    ack_seq = max([device.last_seq, *(r.seq for r in results)]) if results else device.last_seq
    return IngestResult(ack=Ack(seq=ack_seq, results=results), alerts_changed=len(created) + len(changed),
                        results=results)


def edge_flush_heartbeat(*, device_id: int, tenant_id: int) -> bool:
    """Write a device's pending heartbeat now (the connection is closing). True if one was written."""
    beat = heartbeats.take_due(device_id, force=True)
    if beat is None:
        return False
    with tenant_scope(tenant_id), transaction.atomic():
        device = EdgeDevice.objects.select_for_update().filter(id=device_id).first()
        if device is None:
            return False
        health = dict(device.health or {})
        health["heartbeat"] = beat.model_dump(exclude={"v", "type"})
        EdgeDevice.objects.filter(id=device_id).update(health=health, agent_version=beat.agent_version[:64],
                                                        last_seen_at=timezone.now())
    return True
