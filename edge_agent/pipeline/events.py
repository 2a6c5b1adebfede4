"""Turn consensus decisions into event messages (start, then end), tracking the peak.

An event carries start/end, the peak fused score, camera, zone, boxes and, per model, its
calibrated score, whether it voted and its top evidence - all captured at the peak frame.
Metadata only: no pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.config import Zone
from edge_agent.models.base import Evidence, ModelScore
from edge_agent.pipeline.consensus import Decision
from edge_agent.protocol import Box, EventMessage, EvidenceOut, ModelVote

TOP_EVIDENCE = 3
MAX_BOXES = 20


@dataclass(slots=True)
class Snapshot:
    """What the pipeline knows about one frame once the models have run."""

    index: int
    ts: float
    raw: dict[str, ModelScore]
    scores: dict[str, float]  # calibrated + smoothed
    fused: float
    rule: tuple[str, str] | None  # (rule, zone) when a zone rule fired


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


class EventBuilder:
    def __init__(self, camera_id: str, types: dict[str, str], weights: dict[str, float],
                 zones: Sequence[Zone], size: tuple[int, int]) -> None:
        self.camera_id = camera_id
        self.types = types
        self.weights = weights
        self.zones = list(zones)
        self.width, self.height = size
        self.start: Snapshot | None = None
        self.peak: tuple[Snapshot, Decision] | None = None
        self.rule: tuple[str, str] | None = None

    def reset(self) -> None:
        self.start = self.peak = self.rule = None

    def __call__(self, snap: Snapshot, dec: Decision) -> EventMessage | None:
        if dec.change == "start":
            self.start, self.peak, self.rule = snap, (snap, dec), snap.rule
            return self._message("start", None)
        if self.start is None:
            return None
        self.rule = self.rule or snap.rule
        if self.peak is None or snap.fused > self.peak[0].fused:
            self.peak = (snap, dec)
        if dec.change == "end":
            msg = self._message("end", snap.ts)
            self.reset()
            return msg
        return None

    def close(self, ts: float) -> EventMessage | None:
        """End an open event now (stream lost / source ended)."""
        if self.start is None:
            return None
        msg = self._message("end", ts)
        self.reset()
        return msg

    def _message(self, phase: str, end_ts: float | None) -> EventMessage:
        assert self.start is not None and self.peak is not None
        peak, dec = self.peak
        boxes = [box for name, s in peak.raw.items() for b in s.boxes
                 if (box := _clip_box(b, name, self.width, self.height)) is not None][:MAX_BOXES]
        models = [ModelVote(model=name, type=self.types[name], score=float(peak.scores.get(name, 0.0)),
                            voted=bool(dec.voted.get(name, False)), weight=self.weights.get(name, 0.0),
                            evidence=_evidence(s.evidence)) for name, s in peak.raw.items()]
        rule, zone = self.rule if self.rule else (None, _zone_of(boxes, self.zones, self.width, self.height))
        return EventMessage(
            event_id=f"{self.camera_id}:{self.start.index}:{int(round(self.start.ts * 1000))}",
            camera_id=self.camera_id, phase=phase, start_ts=self.start.ts, end_ts=end_ts,  # type: ignore[arg-type]
            peak_ts=peak.ts, peak_score=float(peak.fused), votes=float(dec.votes), k=float(dec.k),
            threshold=float(dec.threshold), zone=zone, rule=rule, boxes=boxes, models=models,
            frame_index=peak.index,
        )
