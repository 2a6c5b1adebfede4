"""Turn consensus decisions into protocol v2 event messages, tracking the peak.

An event is an ``event_open`` when consensus opens, ``event_update`` while it is open whenever
the peak fused score rises by >= 10 % over the last one sent or a model joins the vote (at most
one update per second of source time), and ``event_close`` at the end. Each carries a UUIDv7
``event_id``, the peak fused score, camera, zone, boxes and, per model, its calibrated score and
top evidence at the peak frame (``voted``: voted at any frame of the event so far; ``votes``: the
most weighted votes so far), the wall clock of the peak frame and a compact score curve from
10 s before the start. Metadata only: no pixels.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.config import Zone
from edge_agent.models.base import Evidence, ModelScore
from edge_agent.pipeline.consensus import Decision
from edge_agent.protocol import (
    MAX_CURVE_POINTS,
    Box,
    EventClose,
    EventOpen,
    EventUpdate,
    EvidenceOut,
    ModelVote,
    ScoreCurve,
)

TOP_EVIDENCE = 3
MAX_BOXES = 20
PRE_ROLL_S = 10.0  # score curve starts this long before the event
UPDATE_RISE = 0.10  # an update when the peak rises by this fraction over the last one sent
UPDATE_EVERY_S = 1.0  # at most one update per event per this many seconds (source time)

EventMessage = EventOpen | EventUpdate | EventClose


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix time in ms, version 7, 74 random bits with the variant bits.
    Sorts by creation time (ms); random bits keep ids unique within a millisecond."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits, 74 used
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


@dataclass(slots=True)
class Snapshot:
    """What the pipeline knows about one frame once the models have run."""

    index: int
    ts: float
    raw: dict[str, ModelScore]
    scores: dict[str, float]  # calibrated + smoothed
    fused: float
    rule: tuple[str, str] | None  # (rule, zone) when a zone rule fired
    wall: float = 0.0  # wall clock (epoch s) when the pipeline got the frame


def _evidence(ev: Sequence[Evidence]) -> list[EvidenceOut]:
    return [EvidenceOut(kind=e.kind, label=e.label, value=float(e.value), where=[float(w) for w in e.where])
            for e in ev[:TOP_EVIDENCE]]


def _clip_box(box: Sequence[float], source: str, width: int, height: int) -> Box | None:
    """A model's box cut to the frame (models may centre a box on an object leaving the frame)."""
    x, y, w, h = (int(round(v)) for v in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x=x0, y=y0, w=x1 - x0, h=y1 - y0, source=source)


def _zone_of(boxes: Sequence[Box], zones: Sequence[Zone], width: int, height: int) -> str | None:
    for b in boxes:
        cx, cy = (b.x + b.w / 2) / width, (b.y + b.h / 2) / height
        for z in zones:
            if _inside(cx, cy, z.polygon.points):
                return z.name
    return None


def _inside(x: float, y: float, pts: Sequence[tuple[float, float]]) -> bool:
    hit = False
    for (x1, y1), (x2, y2) in zip(pts, [*pts[1:], pts[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


class Curve:
    """Fused-score samples: the last ``PRE_ROLL_S`` before an event, then every frame of it
    (pairwise max-merged when long, so memory stays bounded); :meth:`curve` resamples to
    at most ``MAX_CURVE_POINTS`` evenly spaced points (max per bin, so the peak survives)."""

    def __init__(self, pre_s: float = PRE_ROLL_S) -> None:
        self.pre_s = pre_s
        self.pre: deque[tuple[float, float]] = deque()
        self.samples: list[tuple[float, float]] = []
        self.open = False

    def reset(self) -> None:
        self.pre.clear()
        self.samples = []
        self.open = False

    def add(self, ts: float, value: float) -> None:
        if self.open:
            self.samples.append((ts, value))
            if len(self.samples) > 4 * MAX_CURVE_POINTS:
                s = self.samples
                self.samples = [(s[i][0], max(s[i][1], s[i + 1][1]) if i + 1 < len(s) else s[i][1])
                                for i in range(0, len(s), 2)]
            return
        self.pre.append((ts, value))
        while self.pre and ts - self.pre[0][0] > self.pre_s:
            self.pre.popleft()

    def begin(self) -> None:
        self.samples, self.open = list(self.pre), True
        self.pre.clear()

    def end(self) -> None:
        last = self.samples[-1][0] if self.samples else 0.0
        self.pre = deque(p for p in self.samples if last - p[0] <= self.pre_s)
        self.samples, self.open = [], False

    def curve(self, threshold: float) -> ScoreCurve | None:
        pts = self.samples
        if not pts:
            return None
        t0, span = pts[0][0], pts[-1][0] - pts[0][0]
        n = min(MAX_CURVE_POINTS, len(pts))
        if n == 1 or span <= 0:
            return ScoreCurve(t0=t0, dt=1.0, scores=[round(max(v for _, v in pts), 4)], threshold=threshold)
        dt = span / (n - 1)
        bins: list[float | None] = [None] * n
        for ts, v in pts:
            i = min(n - 1, max(0, int(round((ts - t0) / dt))))
            bins[i] = v if bins[i] is None else max(bins[i], v)  # type: ignore[type-var]
        out, prev = [], next(b for b in bins if b is not None)
        for b in bins:
            prev = prev if b is None else b
            out.append(round(float(prev), 4))
        return ScoreCurve(t0=t0, dt=dt, scores=out, threshold=threshold)


class EventBuilder:
    def __init__(self, camera_id: str, types: dict[str, str], weights: dict[str, float],
                 zones: Sequence[Zone], size: tuple[int, int]) -> None:
        self.camera_id = camera_id
        self.types = types
        self.weights = weights
        self.zones = list(zones)
        self.width, self.height = size
        self.curve = Curve()
        self._clear()

    def _clear(self) -> None:
        self.start: Snapshot | None = None
        self.peak: tuple[Snapshot, Decision] | None = None
        self.rule: tuple[str, str] | None = None
        self.event_id = ""
        self.max_votes = 0.0
        self.voters: set[str] = set()
        self.sent_peak = 0.0
        self.sent_voters: set[str] = set()
        self.last_update_ts = 0.0

    def reset(self) -> None:
        self._clear()
        self.curve.reset()

    def __call__(self, snap: Snapshot, dec: Decision) -> EventMessage | None:
        self.curve.add(snap.ts, float(snap.fused))
        voted = {n for n, v in dec.voted.items() if v}
        if dec.change == "start":
            self._clear()
            self.start, self.peak, self.rule = snap, (snap, dec), snap.rule
            self.event_id, self.max_votes, self.voters = uuid7(), float(dec.votes), voted
            self.last_update_ts = snap.ts  # the open counts as the first message of the rate limit
            self.curve.begin()
            return self._sent(self._message(EventOpen))
        if self.start is None:
            return None
        self.rule = self.rule or snap.rule
        if self.peak is None or snap.fused > self.peak[0].fused:
            self.peak = (snap, dec)
        self.max_votes = max(self.max_votes, float(dec.votes))
        self.voters |= voted
        if dec.change == "end":
            msg = self._message(EventClose, end_ts=snap.ts)
            self._finish()
            return msg
        assert self.peak is not None
        peak = float(self.peak[0].fused)
        risen = peak > self.sent_peak and peak >= self.sent_peak + UPDATE_RISE * abs(self.sent_peak)
        if snap.ts - self.last_update_ts >= UPDATE_EVERY_S and (risen or self.voters != self.sent_voters):
            self.last_update_ts = snap.ts
            return self._sent(self._message(EventUpdate))
        return None

    def close(self, ts: float) -> EventClose | None:
        """End an open event now (stream lost / source ended)."""
        if self.start is None:
            return None
        msg = self._message(EventClose, end_ts=ts)
        self._finish()
        return msg  # type: ignore[return-value]

    def _finish(self) -> None:
        self._clear()
        self.curve.end()

    def _sent(self, msg: EventMessage) -> EventMessage:
        self.sent_peak, self.sent_voters = msg.peak_score, set(self.voters)
        return msg

    def _message(self, cls: type[EventMessage], end_ts: float | None = None) -> EventMessage:
        assert self.start is not None and self.peak is not None
        peak, dec = self.peak
        boxes = [box for name, s in peak.raw.items() for b in s.boxes
                 if (box := _clip_box(b, name, self.width, self.height)) is not None][:MAX_BOXES]
        models = [ModelVote(model=name, type=self.types[name], score=float(peak.scores.get(name, 0.0)),
                            voted=name in self.voters, weight=self.weights.get(name, 0.0),
                            evidence=_evidence(s.evidence)) for name, s in peak.raw.items()]
        rule, zone = self.rule if self.rule else (None, _zone_of(boxes, self.zones, self.width, self.height))
        fields = dict(
            event_id=self.event_id, camera_id=self.camera_id,
            peak_ts=peak.ts, peak_score=float(peak.fused), votes=self.max_votes, k=float(dec.k),
            threshold=float(dec.threshold), zone=zone, rule=rule, boxes=boxes, models=models,
            curve=self.curve.curve(float(dec.threshold)), frame_index=peak.index, wall_ts=peak.wall or None,
        )
        if cls is EventOpen:
            return EventOpen(start_ts=self.start.ts, **fields)  # type: ignore[arg-type]
        if cls is EventClose:
            return EventClose(start_ts=self.start.ts, end_ts=float(end_ts if end_ts is not None else peak.ts),
                              **fields)  # type: ignore[arg-type]
        return EventUpdate(**fields)  # type: ignore[arg-type]
