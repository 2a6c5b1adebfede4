"""Zone rules from tracks: intrusion, loitering (dwell > N s), line crossing / wrong way.

Foreground blobs come from a background model (the median of normal frames when fitted, else the
first frame), updated slowly and only where nothing moves, so someone standing still stays
foreground. A small centroid tracker links blobs over frames; each track's foot point (bottom
centre of its box) is tested against the zones. ``raw`` is 1.0 while a rule fires, with evidence
``"<rule>:<zone>"`` and the track's box; it does not vote (the pipeline opens an event directly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent._compat import Self
from edge_agent.config import Zone
from edge_agent.models.base import AnomalyModel, Capability, Evidence, Frame, ModelScore, ProgressFn, param
from edge_agent.models.registry import register

Box = tuple[int, int, int, int]


@dataclass
class Track:
    id: int
    box: Box
    first_ts: float
    last_ts: float
    foot: tuple[float, float]
    prev_foot: tuple[float, float] | None = None
    entered: dict[str, float] = field(default_factory=dict)  # zone -> ts the track entered it
    misses: int = 0


class CentroidTracker:
    """Greedy nearest-centroid matching; a track survives ``max_misses`` frames unseen."""

    def __init__(self, max_dist: float = 40.0, max_misses: int = 5) -> None:
        self.max_dist, self.max_misses = max_dist, max_misses
        self.tracks: list[Track] = []
        self.next_id = 1

    def update(self, boxes: Sequence[Box], ts: float) -> list[Track]:
        feet = [(x + w / 2, float(y + h)) for x, y, w, h in boxes]
        pairs = sorted((math.dist(t.foot, f), ti, bi) for ti, t in enumerate(self.tracks) for bi, f in enumerate(feet))
        used_t: set[int] = set()
        used_b: set[int] = set()
        for d, ti, bi in pairs:
            if d > self.max_dist or ti in used_t or bi in used_b:
                continue
            t = self.tracks[ti]
            t.prev_foot, t.foot, t.box, t.last_ts, t.misses = t.foot, feet[bi], boxes[bi], ts, 0
            used_t.add(ti)
            used_b.add(bi)
        for ti, t in enumerate(self.tracks):
            if ti not in used_t:
                t.misses += 1
                t.prev_foot = t.foot
        for bi, b in enumerate(boxes):
            if bi not in used_b:
                self.tracks.append(Track(self.next_id, b, ts, ts, feet[bi]))
                self.next_id += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        return [t for t in self.tracks if t.misses == 0]


def _inside(x: float, y: float, pts: Sequence[Sequence[float]]) -> bool:
    hit = False
    for (x1, y1), (x2, y2) in zip(pts, [*pts[1:], pts[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def _side(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def crossing(prev: tuple[float, float], cur: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when the step prev -> cur crosses segment a-b (a point on the line counts as one side)."""
    s1, s2 = _side(prev, a, b) >= 0, _side(cur, a, b) >= 0
    t1, t2 = _side(a, prev, cur), _side(b, prev, cur)
    return s1 != s2 and t1 * t2 <= 0


DIRECTIONS = {"left_to_right": (1.0, 0.0), "right_to_left": (-1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}


@register
class ZoneRules(AnomalyModel):
    type_key = "zone_rules"
    capabilities = frozenset({Capability.ZONE_RULES})
    votes = False
    needs_fit = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.zones = [Zone.model_validate(z) for z in params.get("zones", [])]
        self.diff_threshold = param(params, "diff_threshold", 25)
        self.min_area = param(params, "min_area", 60)
        self.alpha = param(params, "bg_alpha", 0.02, float)
        self.fitted_bg: np.ndarray | None = None
        self.tracker = CentroidTracker(param(params, "max_dist", 40.0, float), param(params, "max_misses", 5))
        self.bg: np.ndarray | None = None
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def fit(self, clips: Sequence[Iterable[Frame]], *, progress: ProgressFn | None = None) -> None:
        sample: list[np.ndarray] = []
        for clip in clips:
            for i, f in enumerate(clip):
                if i % 5 == 0 and len(sample) < 200:
                    sample.append(f.gray)
                if progress:
                    progress(1)
        if sample:
            self.fitted_bg = np.median(np.stack(sample), axis=0).astype(np.float32)
        self.reset()

    def reset(self) -> None:
        self.bg = None if self.fitted_bg is None else self.fitted_bg.copy()
        self.tracker = CentroidTracker(self.tracker.max_dist, self.tracker.max_misses)

    def blobs(self, gray: np.ndarray) -> list[Box]:
        if self.bg is None or self.bg.shape != gray.shape:
            self.bg = gray.astype(np.float32)
            return []
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self.bg))
        fg = cv2.morphologyEx((diff > self.diff_threshold).astype(np.uint8), cv2.MORPH_OPEN, self.kernel)
        fg = cv2.dilate(fg, self.kernel)
        cv2.accumulateWeighted(gray, self.bg, self.alpha, mask=(fg == 0).astype(np.uint8))
        cv2.accumulateWeighted(gray, self.bg, self.alpha / 50.0)
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        return [tuple(int(v) for v in stats[i, :4]) for i in range(1, n) if stats[i, 4] >= self.min_area]  # type: ignore[misc]

    def score(self, frame: Frame) -> ModelScore:
        w, h = frame.gray.shape[1], frame.gray.shape[0]
        tracks = self.tracker.update(self.blobs(frame.gray), frame.ts)
        ev: list[Evidence] = []
        for t in tracks:
            foot = (t.foot[0] / w, t.foot[1] / h)
            for z in self.zones:
                ev.extend(self._rules(z, t, foot, frame.ts, w, h))
        ev.sort(key=lambda e: -e.value)
        boxes = tuple(tuple(int(v) for v in e.where) for e in ev)
        return ModelScore(raw=1.0 if ev else 0.0, evidence=tuple(ev), boxes=boxes)  # type: ignore[arg-type]

    def _rules(self, z: Zone, t: Track, foot: tuple[float, float], ts: float, w: int, h: int) -> list[Evidence]:
        out = []
        where = tuple(float(v) for v in t.box)
        if _inside(foot[0], foot[1], z.polygon.points):
            t.entered.setdefault(z.name, ts)
            dwell = ts - t.entered[z.name]
            if z.intrusion:
                out.append(Evidence("box", f"intrusion:{z.name}", 1.0 + dwell, where))
            if z.loiter_s is not None and dwell > z.loiter_s:
                out.append(Evidence("box", f"loitering:{z.name}", dwell, where))
        else:
            t.entered.pop(z.name, None)
        if z.line is not None and t.prev_foot is not None:
            a = (z.line[0][0] * w, z.line[0][1] * h)
            b = (z.line[1][0] * w, z.line[1][1] * h)
            if crossing(t.prev_foot, t.foot, a, b):
                move = (t.foot[0] - t.prev_foot[0], t.foot[1] - t.prev_foot[1])
                allowed = DIRECTIONS.get(z.allowed_direction)
                if allowed is None:
                    out.append(Evidence("box", f"line_crossing:{z.name}", 1.0, where))
                elif move[0] * allowed[0] + move[1] * allowed[1] < 0:
                    out.append(Evidence("box", f"wrong_way:{z.name}", 1.0, where))
        return out

    def save(self, directory: Path) -> dict[str, Any]:
        if self.fitted_bg is not None:
            np.save(directory / "background.npy", self.fitted_bg.astype(np.float32))
        return {**self.params, "background": "background.npy" if self.fitted_bg is not None else None}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        bg = params.get("background")
        model = cls(**{k: v for k, v in params.items() if k != "background"})
        if bg:
            model.fitted_bg = np.load(directory / bg, allow_pickle=False)
            model.reset()
        return model
