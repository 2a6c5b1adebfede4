"""Edge ingest: what a device sends over ``/ws/edge/`` becomes alerts and device health.

Two entry points, one rule set:

- ``edge_ingest_group(items)`` applies the frames of many devices inside the caller's transaction
  with a fixed number of queries; the group-commit writer (``detection.ingest_writer``) calls it
  once per group. ``edge_ingest(...)`` applies one frame in a transaction of its own, with
  retries (the writer's fallback when a group's transaction fails).
- The device rows are locked (``SELECT ... FOR UPDATE``, in id order), so two connections of one
  device cannot interleave.
- Idempotent by ``(device, seq)``: any ``seq <= device.last_seq`` is ``duplicate``; and by
  ``(device, event_id)``: a second ``event_open`` of a known event is ``duplicate`` (no second alert).
- A message that cannot be applied (another device's camera, an unknown camera, no ``seq``) is
  ``rejected`` with the reason and still acked, so it never blocks the agent's queue.
- The returned ``Ack`` exists only once the transaction has committed (the function returns after
  ``atomic()`` exits). The result carries the touched alerts serialized for the alert walls
  (``pushes``); the caller sends them once the commit is done (``detection.ingest_writer`` sends one
  channel-layer message per tenant per group commit, from the event loop).
- Heartbeats are coalesced in-process (``HeartbeatCoalescer``): the latest one per device is
  written at most every ``EDGE_HEARTBEAT_FLUSH_S`` seconds, folded into the device UPDATE that
  advances ``last_seq`` anyway.

Time: the agent's ``start_ts``/``peak_ts``/``end_ts`` are seconds of the *stream* (source
timestamps), not wall clock. ``wall_ts`` is the wall clock of the peak frame; when given,
``started_at = wall_ts - (peak_ts - start_ts)`` and ``ended_at = wall_ts + (end_ts - peak_ts)``;
without it the server's ``now`` is used (for ``ended_at`` too).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from pydantic_core import to_json

from cameras.models import Camera, DeviceStatus, EdgeDevice, Zone
from cameras.services import device_command_finish
from detection.health import stream_state_apply
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
    results: list[AckResult] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)  # AlertSerializer rows, for the walls


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


# The fields of an Alert that edge ingest sets; every other concrete field takes its model default.
_EDGE_SET = ("tenant_id", "camera_id", "zone_id", "device_id", "event_id", "started_at", "ended_at", "peak_score",
             "per_model", "boxes", "curve", "created_at", "updated_at")


class _NewAlert:
    """An alert this commit creates, before it has a row: what the device sent, the rest the model's
    defaults (as class attributes, so ``alert_rows`` reads it like an ``Alert``).

    Cheaper than an ``Alert`` per event (``Model.__init__`` with its descriptors and defaults was a
    fifth of a batched frame's server time): on PostgreSQL its COPY row is encoded straight from
    these attributes (``_copy_rows``); ``model()`` builds the ``Alert`` for ``bulk_create``
    elsewhere. tests/detection/test_edge_ingest.py checks that both store the same row and that the
    wall rows equal ``AlertSerializer`` of the stored alert.
    """

    __slots__ = ("pk", "tenant_id", "camera", "zone", "device_id", "event_id", "started_at", "ended_at",
                 "peak_score", "per_model", "boxes", "curve", "created_at", "updated_at")

    def __init__(self, *, tenant_id: int, camera: Camera, zone: Zone | None, device_id: int, event_id: str,
                 started_at: datetime, peak_score: float, per_model: dict[str, Any], boxes: list[list[int]],
                 curve: dict[str, Any], now: datetime) -> None:
        self.pk: int | None = None
        self.tenant_id, self.camera, self.zone, self.device_id = tenant_id, camera, zone, device_id
        self.event_id, self.started_at, self.peak_score = event_id, started_at, peak_score
        self.per_model, self.boxes, self.curve = per_model, boxes, curve
        self.ended_at: datetime | None = None
        self.created_at = self.updated_at = now

    @property
    def id(self) -> int | None:
        return self.pk

    @property
    def camera_id(self) -> int:
        return self.camera.id

    @property
    def zone_id(self) -> int | None:
        return self.zone.id if self.zone is not None else None

    def model(self) -> Alert:
        return Alert(camera=self.camera, zone=self.zone, **{f: getattr(self, f) for f in _EDGE_SET
                                                            if f not in ("camera_id", "zone_id")})


def _defaults_of_the_rest() -> dict[str, Any]:
    fields = [f for f in Alert._meta.concrete_fields if not f.primary_key]
    unknown = {f.attname for f in fields} - set(_EDGE_SET)
    return {f.attname: f.get_default() for f in fields if f.attname in unknown}


for _name, _value in _defaults_of_the_rest().items():  # kind, status, reason_code, note, handled_by_id, ...
    setattr(_NewAlert, _name, _value)


class _Frame:
    """One device's part of a transaction: the locked device, its cameras, touched alerts.

    The lookups (cameras, zones, known alerts) are made once for every device of a group commit
    (``_Lookups``) and handed in, so a group costs the same handful of queries however many devices
    and frames it holds.
    """

    def __init__(self, device: EdgeDevice, *, cameras: dict[int, Camera], zones: dict[tuple[int, str], Zone],
                 alerts: dict[str, Alert], now: datetime) -> None:
        self.device = device
        self.now = now
        self.cameras = cameras
        self.zones = zones
        self.alerts = alerts
        self.new: dict[str, _NewAlert] = {}
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
        alert: Alert | _NewAlert | None = self.alerts.get(msg.event_id) or self.new.get(msg.event_id)
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
            alert = _NewAlert(tenant_id=self.device.tenant_id, camera=camera, zone=zone, device_id=self.device.id,
                              event_id=msg.event_id, started_at=started, peak_score=msg.peak_score,
                              per_model=_per_model(msg), boxes=_boxes(msg),
                              curve=msg.curve.model_dump() if msg.curve else {}, now=self.now)
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


@dataclass
class DeviceFrames:
    """What one device sent in the frames of one commit: (seq, message, "") for each valid message
    and (seq, None, error) for each that failed validation (acked ``rejected``)."""

    device_id: int
    tenant_id: int
    entries: list[tuple[int, Any, str]]

    @classmethod
    def of(cls, *, device_id: int, tenant_id: int, messages: list[Any],
           rejected: list[tuple[int, str]] | None = None) -> DeviceFrames:
        entries: list[tuple[int, Any, str]] = [(m.seq, m, "") for m in messages if m.seq is not None]
        entries += [(seq, None, error) for seq, error in (rejected or [])]
        entries.sort(key=lambda e: e[0])
        return cls(device_id, tenant_id, entries)

    def messages(self) -> list[Any]:
        return [m for _, m, _ in self.entries if m is not None]


def _device_refusal(device: EdgeDevice | None, item: DeviceFrames) -> Exception | None:
    if device is None or device.tenant_id != item.tenant_id:
        return NotAuthenticated(f"device {item.device_id} is gone")
    if device.revoked_at is not None or device.status == DeviceStatus.DISABLED:
        return NotAllowed(f"device {item.device_id} is revoked or disabled")
    return None


# What ingest reads of a camera and a zone (the frame, detection.health.stream_state_apply and the
# wall rows). Loading only these (no decrypted stream URL, no JSON, no ORDER BY, no site join)
# about halved the lookups, a fixed CPU cost of every group commit: 4.2-5.2 -> 2.0-2.5 ms for a
# group of 4 single-event frames from 4 devices (the whole group 7.5-9.3 -> 4.5-5.8 ms).
_CAMERA_FIELDS = ("id", "tenant_id", "site_id", "device_id", "name", "scene_image", "stream_state",
                  "stream_state_since")
_ZONE_FIELDS = ("id", "tenant_id", "camera_id", "name")


class _Lookups:
    """The rows every device of a group needs, read once for the whole group (``_group_rows``).

    Cross-tenant by design (``unscoped_objects``): one commit serves the authenticated devices of
    many tenants. Every row is selected by the device it belongs to (``device_id``), whose tenant
    was fixed when the device authenticated, and is checked against that tenant again here, so no
    device ever sees another tenant's (or another device's) camera, zone or alert. ``devices`` are
    the group's live devices (locked, not refused); rows of the others are dropped here.
    """

    def __init__(self, devices: dict[int, EdgeDevice], rows: _GroupRows) -> None:
        self.cameras: dict[int, dict[int, Camera]] = {}
        for cam in rows.cameras:
            device = devices.get(cam.device_id)  # type: ignore[arg-type]
            if device is not None and cam.tenant_id == device.tenant_id and cam.id in rows.wanted.get(device.id, ()):
                self.cameras.setdefault(device.id, {})[cam.id] = cam
        kept = {cid for cams in self.cameras.values() for cid in cams}
        self.zones: dict[tuple[int, str], Zone] = {(z.camera_id, z.name): z for z in rows.zones if z.camera_id in kept}
        self.alerts: dict[int, dict[str, Alert]] = {}
        if rows.known:
            for alert in Alert.unscoped_objects.select_related("camera__site", "zone", "handled_by").filter(
                    id__in=rows.known):
                device = devices.get(alert.device_id)  # type: ignore[arg-type]
                if device is not None and alert.tenant_id == device.tenant_id:
                    self.alerts.setdefault(device.id, {})[alert.event_id] = alert

    def frame(self, device: EdgeDevice, now: datetime) -> _Frame:
        cameras = self.cameras.get(device.id, {})
        # zones are keyed by camera id, and a frame only reaches its own device's cameras
        return _Frame(device, cameras=cameras, now=now, alerts=self.alerts.get(device.id, {}), zones=self.zones)


# A group commit's row lookups. On PostgreSQL they are fixed SQL texts (ids as array parameters)
# whose rows become model instances the way the ORM makes them (each field's database converters,
# then ``Model.from_db``, deferred fields left out), with the SQL, columns and converters worked
# out once: the ORM's filter building and SQL compilation of these three queries were most of a
# small group's CPU (devices, cameras and zones of a one-event group 1.9 ms -> 1.1 ms of CPU with
# raw querysets, best of 300 with BEGIN and COMMIT; raw querysets still mapped columns per call).
@functools.cache
def _loader(model: type[Any], fields: tuple[str, ...], where: str, tail: str) -> tuple[str, list[str], list[Any]]:
    q = connection.ops.quote_name
    meta = model._meta
    wanted = set(fields)
    loaded = [f for f in meta.concrete_fields if f.attname in wanted]  # from_db wants model order
    converters = []
    for i, f in enumerate(loaded):
        col = f.get_col(meta.db_table)
        if funcs := [*connection.ops.get_db_converters(col), *f.get_db_converters(connection)]:
            converters.append((i, funcs, col))
    sql = f"SELECT {', '.join(q(f.column) for f in loaded)} FROM {q(meta.db_table)} WHERE {where}{tail}"
    return sql, [f.attname for f in loaded], converters


_DEVICE_FIELDS = tuple(f.attname for f in EdgeDevice._meta.concrete_fields)


def _instances(model: type[Any], fields: tuple[str, ...], where: str, tail: str, rows: list[tuple[Any, ...]]) -> list[Any]:
    """The rows of ``_loader(model, fields, where, tail)``'s SQL as model instances."""
    _, attnames, converters = _loader(model, fields, where, tail)
    out = []
    for row in rows:
        if converters:
            row = list(row)
            for i, funcs, col in converters:
                value = row[i]
                for func in funcs:
                    value = func(value, col, connection)
                row[i] = value
        out.append(model.from_db(connection.alias, attnames, row))
    return out


@dataclass
class _GroupRows:
    """What a group commit reads before applying its frames: its devices (locked, in id order),
    the cameras its messages name (``wanted``: device id -> camera ids), their zones, and the ids
    of the alerts its devices already have for the event ids its messages name."""

    devices: list[EdgeDevice]
    cameras: list[Camera]
    zones: list[Zone]
    known: list[int]
    wanted: dict[int, set[int]]


def _wanted(items: list[DeviceFrames]) -> tuple[dict[int, set[int]], set[str]]:
    wanted: dict[int, set[int]] = {}
    event_ids: set[str] = set()
    for item in items:
        ids = wanted.setdefault(item.device_id, set())
        for msg in item.messages():
            if hasattr(msg, "camera_id") and (cid := _camera_id(msg.camera_id)) is not None:
                ids.add(cid)
            if hasattr(msg, "event_id"):
                event_ids.add(msg.event_id)
    return wanted, event_ids


@functools.cache
def _pg_reads() -> dict[str, Any]:
    """The group reads on PostgreSQL: ``_loader`` arguments for devices, cameras and zones (zones by
    the subquery of the cameras read, so the four reads need nothing from each other's rows), and
    the known-alert SQL."""
    q = connection.ops.quote_name
    return {"devices": (EdgeDevice, _DEVICE_FIELDS, "id = ANY(%s)", " ORDER BY id FOR UPDATE"),
            "cameras": (Camera, _CAMERA_FIELDS, "device_id = ANY(%s) AND id = ANY(%s)", ""),
            "zones": (Zone, _ZONE_FIELDS, f"camera_id IN (SELECT id FROM {q(Camera._meta.db_table)} "
                                          "WHERE device_id = ANY(%s) AND id = ANY(%s))", ""),
            "known": f"SELECT id FROM {q(Alert._meta.db_table)} "
                     "WHERE device_id = ANY(%s) AND event_id = ANY(string_to_array(%s, ','))"}


def _group_rows(device_ids: list[int], wanted: dict[int, set[int]], event_ids: set[str]) -> _GroupRows:
    """The group's reads. On PostgreSQL the device lock (``SELECT ... FOR UPDATE`` in id order) and
    the camera, zone and known-alert reads go to the server together in pipeline mode: one round
    trip (with the transaction's BEGIN) instead of five, which the group commit's latency (and so
    every ack's) paid each time; the server still runs them in order, the lock first, so the reads
    see what the previous holder of the lock committed. Event ids travel as ONE text parameter
    split by the server (they cannot contain a comma: protocol ``event_id`` is
    ``[A-Za-z0-9_.:-]``): binding a list of thousands of strings client-side cost more than the rest
    of the group's writes."""
    camera_ids = sorted(set().union(*wanted.values())) if wanted else []
    if connection.vendor != "postgresql":
        devices = list(EdgeDevice.unscoped_objects.select_for_update().filter(id__in=device_ids).order_by("id"))
        cameras = list(Camera.unscoped_objects.filter(device_id__in=device_ids, id__in=camera_ids)
                       .only(*_CAMERA_FIELDS).order_by()) if camera_ids else []
        zones = list(Zone.unscoped_objects.filter(camera_id__in=[c.id for c in cameras]).only(*_ZONE_FIELDS)
                     .order_by()) if cameras else []
        known = list(Alert.unscoped_objects.filter(device_id__in=device_ids, event_id__in=event_ids)
                     .values_list("id", flat=True)) if event_ids else []
        return _GroupRows(devices, cameras, zones, known, wanted)
    pg = _pg_reads()
    reads: list[tuple[str, list[Any]]] = [(_loader(*pg["devices"])[0], [device_ids])]
    if camera_ids:
        reads.append((_loader(*pg["cameras"])[0], [device_ids, camera_ids]))
        reads.append((_loader(*pg["zones"])[0], [device_ids, camera_ids]))
    if event_ids:
        reads.append((pg["known"], [device_ids, ",".join(sorted(event_ids))]))
    results = _pipelined(reads)
    devices = _instances(*pg["devices"], results[0])
    cameras = _instances(*pg["cameras"], results[1]) if camera_ids else []
    zones = _instances(*pg["zones"], results[2]) if camera_ids else []
    known = [row[0] for row in results[-1]] if event_ids else []
    return _GroupRows(devices, cameras, zones, known, wanted)


def _pipelined(reads: list[tuple[str, list[Any]]]) -> list[list[tuple[Any, ...]]]:
    """Each read's rows, the reads sent in one psycopg pipeline (one round trip) through Django's
    cursors (so its execute wrappers and query log see each one)."""
    connection.ensure_connection()
    cursors = [connection.cursor() for _ in reads]
    try:
        with connection.connection.pipeline():
            for cursor, (sql, params) in zip(cursors, reads, strict=True):
                cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def _apply_entries(frame: _Frame, entries: list[tuple[int, Any, str]]) -> tuple[list[dict[str, Any]], int]:
    """Each entry's ``AckResult`` as a dict (validated into the ``Ack`` in one call, cheaper than a
    model per message) and the device's new last seq."""
    results: list[dict[str, Any]] = []
    last_seq = frame.device.last_seq
    for seq, msg, error in entries:
        if seq <= last_seq:
            results.append({"seq": seq, "status": "duplicate"})
            continue
        last_seq = seq
        if msg is None:
            results.append({"seq": seq, "status": "rejected", "error": error})
            continue
        try:
            status = frame.apply(msg)
        except _Rejected as err:
            results.append({"seq": seq, "status": "rejected", "error": str(err)})
            continue
        results.append({"seq": seq, "status": status})
    return results, last_seq


_DEVICE_UPDATE_FIELDS = ["last_seq", "last_seen_at", "status", "health", "agent_version"]


def _update_devices(frames: list[_Frame], now: datetime) -> None:
    """Write each device's new ``last_seq`` (and ``last_seen_at``, ``status``); ``health`` and
    ``agent_version`` only where they changed (a heartbeat flush, a stream status, a command
    result). On PostgreSQL the common part is one ``UPDATE ... FROM unnest(...)``: ``bulk_update``
    compiles a CASE per field and device in Python, which was a seventh of the server's time per
    group at 1,200 single-event frames a second."""
    devices = [f.device for f in frames]
    if connection.vendor != "postgresql":
        EdgeDevice.unscoped_objects.bulk_update(devices, _DEVICE_UPDATE_FIELDS)
        return
    meta, q = EdgeDevice._meta, connection.ops.quote_name
    col = {name: q(meta.get_field(name).column) for name in ("last_seq", "last_seen_at", "status")}
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {q(meta.db_table)} AS d SET {col['last_seq']} = v.last_seq, "
                       f"{col['last_seen_at']} = %s, {col['status']} = %s "
                       f"FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, last_seq) WHERE d.{q(meta.pk.column)} = v.id",
                       [now, DeviceStatus.ONLINE, [d.id for d in devices], [d.last_seq for d in devices]])
    if changed := [f.device for f in frames if f.health_changed]:
        EdgeDevice.unscoped_objects.bulk_update(changed, ["health", "agent_version"])


def edge_ingest_group(items: list[DeviceFrames]) -> tuple[list[IngestResult | Exception], dict[int, list[dict[str, Any]]]]:
    """Apply the frames of many devices in the caller's transaction with a fixed number of queries
    (lock the devices, read cameras, zones and known alerts, insert, update) and return, per item,
    its ``IngestResult`` or the exception that refuses that device (``NotAllowed`` revoked,
    ``NotAuthenticated`` gone), and the alert-wall rows of the touched alerts by tenant, for the
    caller to push. Valid once the caller's transaction has committed. One device may have many
    items (its frames, in order); each item's ack is cumulative over the ones before it.

    Any other error (a constraint, the database) propagates: the caller's transaction is then
    rolled back as a whole and the caller writes the frames again one by one.
    """
    ids = sorted({item.device_id for item in items})
    rows = _group_rows(ids, *_wanted(items))
    devices = {d.id: d for d in rows.devices}
    refused = {item.device_id: _device_refusal(devices.get(item.device_id), item) for item in items}
    live = {i: d for i, d in devices.items() if refused.get(i) is None}
    lookups = _Lookups(live, rows)
    now = timezone.now()
    taken: list[tuple[int, Heartbeat]] = []
    try:
        frames: dict[int, _Frame] = {}
        outcomes: list[tuple[_Frame, list[dict[str, Any]]] | Exception] = []
        for item in items:
            if (err := refused[item.device_id]) is not None:
                outcomes.append(err)
                continue
            device = live[item.device_id]
            frame = frames.get(device.id)
            if frame is None:
                frame = frames[device.id] = lookups.frame(device, now)
            with tenant_scope(device.tenant_id):  # what frame.apply writes itself (stream state) is scoped
                results, device.last_seq = _apply_entries(frame, item.entries)
            outcomes.append((frame, results))
        created = _insert_alerts([a for f in frames.values() for a in f.new.values()])
        changed = [a for f in frames.values() for a in f.changed.values()]
        if changed:
            Alert.unscoped_objects.bulk_update(changed, _ALERT_UPDATE_FIELDS)
        for frame in frames.values():
            device = frame.device
            device.last_seen_at, device.status = now, DeviceStatus.ONLINE
            beat = heartbeats.take_due(device.id)
            if beat is not None:
                taken.append((device.id, beat))
                frame.health["heartbeat"] = beat.model_dump(exclude={"v", "type"})
                frame.health_changed = True
                device.agent_version = beat.agent_version[:64]
            if frame.health_changed:
                device.health = frame.health
        if frames:
            _update_devices(list(frames.values()), now)
        pushes = _payloads_by_tenant([*created, *changed, *(a for f in frames.values() for a in f.health_alerts)])
    except Exception:
        for device_id, beat in taken:  # not written after all: keep them for the next flush
            heartbeats.put_back(device_id, beat)
        raise
    out: list[IngestResult | Exception] = []
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            out.append(outcome)
            continue
        frame, results = outcome
        ack_seq = max([frame.device.last_seq, *(r["seq"] for r in results)]) if results else frame.device.last_seq
        ack = Ack.model_validate({"seq": ack_seq, "results": results})
        out.append(IngestResult(ack=ack, results=ack.results))
    return out, pushes


class _AlertIds:
    """Alert ids drawn from the table's sequence ahead of need, ``block`` at a time (what a sequence's
    ``CACHE`` does per session, kept here): a group commit's new alerts take theirs without a
    round trip of their own; one query per ``block`` new alerts instead of one per group commit.
    Like any sequence, ids are unique but not in commit order across processes, and the ones a
    process does not use before it stops are never used (gaps, as after a rollback)."""

    def __init__(self, block: int = 1000) -> None:
        self.block = block
        self._ids: list[int] = []
        self._lock = threading.Lock()

    def take(self, n: int) -> list[int]:
        with self._lock:
            if len(self._ids) < n:
                meta = Alert._meta
                with connection.cursor() as cursor:
                    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                                   [meta.db_table, meta.pk.column, max(n - len(self._ids), self.block)])
                    self._ids.extend(pk for (pk,) in cursor.fetchall())
            ids, self._ids = self._ids[:n], self._ids[n:]
            return ids


_alert_ids = _AlertIds()


def _insert_alerts(alerts: list[_NewAlert]) -> list[_NewAlert]:
    """Insert new alerts and give them their ids: ``bulk_create`` on SQLite; on PostgreSQL the ids
    come from ``_alert_ids`` (drawn from the table's sequence a block at a time) and the rows go in
    with ``COPY``, encoded by ``_copy_rows``: a half to a quarter of ``bulk_create``'s CPU time for
    1 to 16 rows (measured in the writer: 1 row 0.7 vs 1.3 ms, 4 rows 0.5 vs 1.6 ms, 16 rows 0.8
    vs 3.1 ms), so even a commit of one new alert uses it."""
    if not alerts:
        return alerts
    if connection.vendor != "postgresql":
        for new, alert in zip(alerts, Alert.unscoped_objects.bulk_create([a.model() for a in alerts]), strict=True):
            new.pk = alert.pk
        return alerts
    meta = Alert._meta
    columns, rows = _copy_rows(alerts)
    ids = _alert_ids.take(len(alerts))
    for alert, row, pk in zip(alerts, rows, ids, strict=True):
        alert.pk = row[0] = pk
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor, \
            cursor.cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return alerts


def _copy_rows(alerts: list[_NewAlert]) -> tuple[list[str], list[list[Any]]]:
    """The columns (the id first, then every other concrete field) and the COPY values of each new
    alert, id left None: what ``bulk_create`` would write, without the ORM's per-field calls. Each
    row starts as a copy of a template holding every other field's model default (prepared once by
    the ORM); the edge-set fields are plain values psycopg adapts itself (ints, str, float), JSON
    as its text (by pydantic-core's encoder where the field has no encoder of its own: the same
    JSON value as ``json.dumps``, spelled e.g. ``1e-5`` for ``1e-05``; jsonb stores the value, not
    the spelling) and datetimes as ISO 8601 text with their offset (psycopg's own datetime dumper
    cost 2.8 us a value, most of a row's formatting; ``created_at`` and ``updated_at`` are one
    value per commit, written once)."""
    fields = [f for f in Alert._meta.concrete_fields if not f.primary_key]
    template: list[Any] = [None]  # the id
    setters: list[tuple[int, str, Any]] = []  # (index, attribute, JSON encoder class or None | "ts" | False)
    for i, f in enumerate(fields, start=1):
        if f.attname not in _EDGE_SET:
            template.append(f.get_db_prep_save(f.get_default(), connection))
            continue
        template.append(None)
        kind = f.get_internal_type()
        setters.append((i, f.attname, f.encoder if kind == "JSONField" else "ts" if kind == "DateTimeField" else False))
    stamps: dict[datetime, str] = {}
    rows = []
    for alert in alerts:
        row = template.copy()
        for i, attname, how in setters:
            value = getattr(alert, attname)
            if how is False:
                row[i] = value
            elif how is None:  # plain json.dumps in the ORM; the same JSON value, 5x cheaper
                row[i] = to_json(value).decode()
            elif how == "ts":
                if value is not None:
                    text = stamps.get(value)
                    if text is None:
                        text = stamps[value] = value.isoformat()
                    row[i] = text
            else:
                row[i] = json.dumps(value, cls=how)
        rows.append(row)
    return [Alert._meta.pk.column, *(f.column for f in fields)], rows


def _payloads_by_tenant(alerts: list[Alert]) -> dict[int, list[dict[str, Any]]]:
    """The alert-wall rows of the touched alerts, serialized once per tenant (in its scope)."""
    if not alerts:
        return {}
    from detection.api.serializers import alert_rows

    by_tenant: dict[int, list[Alert]] = {}
    for alert in alerts:
        by_tenant.setdefault(alert.tenant_id, []).append(alert)
    out = {}
    for tenant_id, rows in by_tenant.items():
        with tenant_scope(tenant_id):
            out[tenant_id] = alert_rows(rows)
    return out


def edge_ingest(*, device_id: int, tenant_id: int, messages: list[Any],
                rejected: list[tuple[int, str]] | None = None) -> IngestResult:
    """Apply one frame's messages for ``device_id`` (already authenticated by the caller) in one
    transaction and return the ``Ack`` to send, valid once this function has returned.

    ``rejected``: (seq, error) of messages of this frame that failed validation; they are acked as
    ``rejected`` (and advance ``last_seq``) so the agent dead-letters them.
    Raises ``NotAllowed`` when the device was revoked or disabled meanwhile (close 4403).
    """
    item = DeviceFrames.of(device_id=device_id, tenant_id=tenant_id, messages=messages, rejected=rejected)
    for attempt in range(len(RETRY_DELAYS_S) + 1):
        try:
            with transaction.atomic():
                results, pushes = edge_ingest_group([item])
            if isinstance(results[0], Exception):
                raise results[0]
            return dataclasses.replace(results[0], pushes=pushes.get(tenant_id, []))
        except OperationalError:  # e.g. SQLite "database is locked": nothing was committed, retry
            if attempt == len(RETRY_DELAYS_S) or connection.in_atomic_block:
                raise
            logger.warning("edge.ingest_retry", extra={"device_id": device_id, "attempt": attempt + 1},
                           exc_info=True)
            time.sleep(RETRY_DELAYS_S[attempt])
    raise AssertionError("unreachable")


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
