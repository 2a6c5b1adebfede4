"""Optical-flow motion model (``type: flow``) and the motion front end shared by the anomaly models.

Front end (:class:`MotionFrontEnd`), per frame, against the frame ``gap`` frames earlier:

1. *coarse* dense flow: OpenCV DIS (FAST preset) on both frames at half resolution, with 2
   iterations of variational refinement instead of the preset's 5 (``coarse_refine``): the
   coarse flow only places candidates and seeds the refinement, which measures their speed with
   the preset's 5. 2 iterations cost 4.5 ms a frame instead of 6.9 on the dev machine; 0 or 1
   misplace a small textured object on a flat background (the rigidity test's pair) by 20 px;
2. *candidates*: the ``candidates`` strongest local maxima of the coarse speed averaged over a
   box of about one object (``box`` pixels, learned at fit time as the typical moving blob size);
3. *refinement*: full-resolution DIS on a small crop around each candidate only (the expensive
   finest pyramid level is paid where something moves - gating), giving the candidate's speed
   (box-mean flow magnitude), mean velocity and the size of its moving region.

Results are cached per (frame pair, settings), so the flow, objects and autoencoder models of one
camera compute the front end once per frame.

The flow model scores a frame by its fastest candidate (pixels moved per ``gap`` frames, box
mean). ``fit`` learns the typical object size and per-cell statistics of normal speed and
direction (a ``grid`` of cells); evidence names the cell and how its speed compares with the
cell's normal 99th percentile, and whether the motion runs against the cell's usual direction.
``normalize="cell"`` divides speeds by the cell's normal level (perspective-aware), off by
default: on UCSD Ped2 it lowered micro AUC (0.970 -> 0.956 in the research notes), because the
anomalies there are fast objects on the walkway, where normal speeds are already highest. That
default was first chosen on Ped2's test figures; validation on training footage only agrees
(flow alone, synthetic anomalies caught within 2 s of 80, Ped2 / far view / tilted view of
``vad-edge bench --variant``): 42 / 79 / 30 with ``cell`` against 43 / 79 / 30 without, the same
false events (3 / 1 / 1 in 4.2 min).
"""

from __future__ import annotations

import json
import math
import threading
import zlib
from collections import OrderedDict, deque
from contextlib import contextmanager
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent._compat import Self
from edge_agent.errors import ConfigError, ModelFileError, NotFitted
from edge_agent.models.base import AnomalyModel, Capability, Evidence, Frame, ModelScore, ProgressFn, param
from edge_agent.models.registry import register

STATS_FILE = "flow_stats.json"


# ---------------------------------------------------------------- front end
@dataclass(frozen=True, slots=True)
class Candidate:
    """A moving region: centre (x, y), speed (box-mean px per gap), velocity, moving-region size and rigidity.

    ``coherence`` is the share of the region's moving pixels whose flow vector lies within 30% of
    the region's median vector, and ``spread`` = 1 - (median vector's length) / (90th percentile of
    their speeds), in [0, 1]. A rigid mover (bicycle, cart, car) translates as one piece: coherence
    near 1, spread near 0. A walker's limbs swing against the torso: lower coherence, larger spread.
    (Before objects version 5, spread was the ratio itself, percentile over length: unbounded where
    the parts move in opposite directions and the median vector is near zero, which made a few
    normal objects 8 standard deviations off.)
    """

    x: int
    y: int
    speed: float
    dx: float
    dy: float
    h: int
    w: int
    area: int
    coherence: float = 0.0
    spread: float = 0.0

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (int(self.x - self.w // 2), int(self.y - self.h // 2), int(self.w), int(self.h))


@dataclass(frozen=True, slots=True)
class Motion:
    """The front end's result for one frame; ``coarse`` is half-resolution flow in full-res pixels."""

    coarse: np.ndarray  # (H/2, W/2, 2) float32
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class MotionSettings:
    gap: int = 2  # frames between the two images of a flow pair
    candidates: int = 3  # refined regions per frame
    box: int = 30  # object size in pixels (box-mean window)
    min_speed: float = 0.3  # px per gap below which nothing is a candidate
    coarse_preset: str = "fast"  # DIS preset of the half-resolution pass: "ultrafast" trades accuracy for speed
    coarse_scale: int = 0  # finest DIS pyramid level of the half-resolution pass (1 = quarter resolution, faster)
    coarse_refine: int = 2  # = COARSE_REFINE; variational refinement iterations of the half-resolution pass (the FAST preset's: 5)

    def validate(self) -> None:
        if self.coarse_preset not in PRESETS:
            raise ConfigError(f"coarse_preset must be one of {sorted(PRESETS)}, got {self.coarse_preset!r}")
        if self.coarse_scale not in COARSE_SCALES:
            raise ConfigError(f"coarse_scale must be one of {list(COARSE_SCALES)} (finest DIS pyramid level), "
                              f"got {self.coarse_scale!r}")
        if not 0 <= self.coarse_refine <= 50:
            raise ConfigError(f"coarse_refine must be between 0 and 50 iterations, got {self.coarse_refine!r}")
        if self.gap < 1:
            raise ConfigError(f"flow gap must be >= 1 frame, got {self.gap}")
        if self.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {self.candidates}")
        if not 4 <= self.box <= 256:
            raise ConfigError(f"box must be between 4 and 256 pixels, got {self.box}")


PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

COARSE_SCALES = (0, 1, 2)  # finest pyramid levels offered for the half-resolution pass
COARSE_REFINE = 2  # variational refinement iterations of the half-resolution pass (see the module docstring)
LEGACY_COARSE_REFINE = 5  # what a bundle saved without ``coarse_refine`` was fitted with (the FAST preset's)

_CACHE: OrderedDict[tuple[Any, ...], Motion] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16
_STORE = True  # False inside ``motion_cache(store=False)``: read the cache, add nothing to it
# Inside ``motion_cache(store=False)`` a frame's result goes here instead: the few frames the models of
# one camera are scoring now, so that they still compute each frame's flow once between them. (Before,
# each of validation's synthetic frames was computed once per motion model: 4 times with 4 models.)
_SCRATCH: OrderedDict[tuple[Any, ...], Motion] = OrderedDict()
_SCRATCH_SIZE = 8


def frame_key(frame: Frame) -> tuple[int, float, int]:
    """Identity of a frame's pixels (index, ts, crc32), so models of one camera share results."""
    return (frame.index, frame.ts, zlib.crc32(np.ascontiguousarray(frame.gray).data))


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
        _SCRATCH.clear()


@contextmanager
def motion_cache(size: int = 0, *, store: bool = True) -> Iterator[None]:
    """Keep up to ``size`` front-end results while inside: training fits and calibrates each model
    in turn (and validation each fold) over the same frames, so each frame's optical flow is then
    paid once, not once per model and fold. About 0.2 MB per 360x240 frame; the cache shrinks back
    on leaving. ``store=False``: use what is cached but keep frames seen only once (validation's
    synthetic clips) from pushing out the ones that come back; the models still share each such
    frame's result through a small scratch cache, emptied on leaving."""
    global _CACHE_SIZE, _STORE
    with _CACHE_LOCK:
        before, stored = _CACHE_SIZE, _STORE
        _CACHE_SIZE, _STORE = max(before, size), store and stored
    try:
        yield
    finally:
        with _CACHE_LOCK:
            _CACHE_SIZE, _STORE = before, stored
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
            if _STORE:
                _SCRATCH.clear()


def _dis(preset: str = "fast", finest_scale: int = 0, refine: int | None = None) -> cv2.DISOpticalFlow:
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    dis.setFinestScale(finest_scale)
    if refine is not None:
        dis.setVariationalRefinementIterations(refine)
    return dis


def _odd(n: float) -> int:
    k = max(3, int(round(n)))
    return k if k % 2 else k + 1


class MotionFrontEnd:
    """Coarse flow, candidate regions, full-resolution refinement of the candidates."""

    def __init__(self, settings: MotionSettings) -> None:
        settings.validate()
        self.s = settings
        self._coarse_dis = _dis(settings.coarse_preset, settings.coarse_scale, settings.coarse_refine)
        self._fine_dis = _dis()
        self._history: deque[tuple[tuple[int, float, int], np.ndarray]] = deque(maxlen=settings.gap)

    def reset(self) -> None:
        self._history.clear()

    def __call__(self, frame: Frame) -> Motion | None:
        """Motion of ``frame`` against the frame ``gap`` earlier (the oldest one kept at stream start)."""
        key = frame_key(frame)
        gray = np.ascontiguousarray(frame.gray)
        prev = self._history[0] if self._history else None
        self._history.append((key, gray))
        if prev is None:
            return None
        cache_key = (self.s, prev[0], key, gray.shape)
        with _CACHE_LOCK:
            hit = _CACHE.get(cache_key)
            if hit is None:
                hit = _SCRATCH.get(cache_key)
        if hit is not None:
            return hit
        motion = self.compute(prev[1], gray, frame.valid)
        with _CACHE_LOCK:
            cache, size = (_CACHE, _CACHE_SIZE) if _STORE else (_SCRATCH, _SCRATCH_SIZE)
            cache[cache_key] = motion
            while len(cache) > size:
                cache.popitem(last=False)
        return motion

    def compute(self, prev: np.ndarray, cur: np.ndarray, valid: np.ndarray | None = None) -> Motion:
        h, w = cur.shape
        half = (max(8, w // 2), max(8, h // 2))
        a = cv2.resize(prev, half, interpolation=cv2.INTER_AREA)
        b = cv2.resize(cur, half, interpolation=cv2.INTER_AREA)
        coarse = self._coarse_dis.calc(a, b, None) * np.float32(w / half[0])
        if valid is not None:
            coarse[~cv2.resize(valid.astype(np.uint8), half, interpolation=cv2.INTER_NEAREST).astype(bool)] = 0.0
        speed = magnitude(coarse)
        peaks = self._peaks(speed, w / half[0])
        cands = tuple(self._refine(prev, cur, x, y, valid, coarse) for x, y in peaks)
        return Motion(coarse=coarse, candidates=cands)

    def _peaks(self, speed: np.ndarray, scale: float) -> list[tuple[int, int]]:
        k = _odd(self.s.box / scale)
        mean = cv2.blur(speed, (k, k))
        local_max = mean >= cv2.dilate(mean, np.ones((k, k), np.uint8))
        ys, xs = np.nonzero(local_max & (mean > self.s.min_speed))
        if ys.size == 0:
            return []
        order = np.argsort(-mean[ys, xs], kind="stable")[: self.s.candidates]
        return [(int(xs[i] * scale + scale / 2), int(ys[i] * scale + scale / 2)) for i in order]

    def _refine(self, prev: np.ndarray, cur: np.ndarray, x: int, y: int, valid: np.ndarray | None,
                coarse: np.ndarray) -> Candidate:
        h, w = cur.shape
        r = self.s.box + 2  # crop half-size: the object plus a margin for the flow's support
        y0, y1, x0, x1 = max(0, y - r), min(h, y + r), max(0, x - r), min(w, x + r)
        # start from the coarse flow, so displacements larger than the crop's pyramid can follow are kept
        sy, sx = coarse.shape[0] / h, coarse.shape[1] / w
        cy0, cx0 = int(y0 * sy), int(x0 * sx)
        init = coarse[cy0: max(cy0 + 1, int(round(y1 * sy))), cx0: max(cx0 + 1, int(round(x1 * sx)))]
        init = cv2.resize(init, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        flow = self._fine_dis.calc(np.ascontiguousarray(prev[y0:y1, x0:x1]), np.ascontiguousarray(cur[y0:y1, x0:x1]),
                                   np.ascontiguousarray(init))
        if valid is not None:
            flow[~valid[y0:y1, x0:x1]] = 0.0
        mag = magnitude(flow)
        box = min(self.s.box, mag.shape[0], mag.shape[1])
        mean = cv2.blur(mag, (box, box))
        half = self.s.box // 2
        cy, cx = y - y0, x - x0
        sy, sx = max(0, cy - half), max(0, cx - half)
        centre = mean[sy: cy + half + 1, sx: cx + half + 1]
        iy, ix = np.unravel_index(int(np.argmax(centre)), centre.shape)
        py, px = sy + int(iy), sx + int(ix)
        window = (slice(max(0, py - half), py + half + 1), slice(max(0, px - half), px + half + 1))
        v = flow[window].reshape(-1, 2).mean(0)
        peak = float(mean[py, px])
        mask = (mag > max(0.5, 0.4 * float(mag[window].max()))).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        j = int(labels[py, px])
        if j == 0 and n > 1:  # the peak's own pixel is below the mask: the region that fills most of its window
            counts = np.bincount(labels[window].ravel(), minlength=n)
            counts[0] = 0
            j = int(np.argmax(counts))
        bw, bh, area = (int(stats[j, 2]), int(stats[j, 3]), int(stats[j, 4])) if j > 0 else (0, 0, 0)
        coherence, spread = rigidity(flow[window], mag[window])
        return Candidate(x=x0 + px, y=y0 + py, speed=peak, dx=float(v[0]), dy=float(v[1]), h=bh, w=bw, area=area,
                         coherence=coherence, spread=spread)


def magnitude(flow: np.ndarray) -> np.ndarray:
    """Per-pixel speed of an (..., 2) flow field: the same values as ``sqrt((flow * flow).sum(-1))``,
    8x faster (numpy reduces a length-2 last axis element by element)."""
    fx, fy = flow[..., 0], flow[..., 1]
    return np.sqrt(fx * fx + fy * fy)


def rigidity(flow: np.ndarray, mag: np.ndarray, min_pixels: int = 5) -> tuple[float, float]:
    """(coherence, spread) of the moving pixels of a flow window and its magnitudes (see :class:`Candidate`).

    (0, 0) when fewer than ``min_pixels`` move.
    """
    speeds = mag.ravel()
    keep = speeds > max(0.5, 0.3 * float(speeds.max(initial=0.0)))
    if int(keep.sum()) < min_pixels:
        return 0.0, 0.0
    moving, speeds = flow.reshape(-1, 2)[keep], speeds[keep]
    median = np.median(moving, axis=0)
    length = float(np.hypot(median[0], median[1]))
    deviation = magnitude(moving - median)
    p90 = float(np.percentile(speeds, 90))  # > 0.5: every kept speed is
    return float((deviation < 0.3 * (length + 1e-6)).mean()), float(np.clip(1.0 - length / p90, 0.0, 1.0))


def typical_object_size(clips: Sequence[Sequence[Frame]], gap: int, every: int = 5) -> int:
    """Median side (sqrt area) of moving blobs in normal footage, in full-resolution pixels."""
    dis = _dis()
    sides: list[float] = []
    for clip in clips:
        frames = list(clip)
        for i in range(gap, len(frames), every):
            a, b = frames[i - gap].gray, frames[i].gray
            h, w = b.shape
            half = (max(8, w // 2), max(8, h // 2))
            f = dis.calc(cv2.resize(a, half, interpolation=cv2.INTER_AREA),
                         cv2.resize(b, half, interpolation=cv2.INTER_AREA), None)
            moving = (cv2.blur(magnitude(f), (3, 3)) > 0.3).astype(np.uint8)
            moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
            n, _, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
            sides.extend(math.sqrt(a_) * (w / half[0]) for a_ in stats[1:, 4] if a_ >= 12)
    if not sides:
        return 30
    return int(round(float(np.median(sides))))


def iter_motion(front: MotionFrontEnd, clips: Sequence[Iterable[Frame]], progress: ProgressFn | None = None
                ) -> Iterable[tuple[Frame, Motion]]:
    """Front-end results over every frame of every clip (state reset per clip)."""
    for clip in clips:
        front.reset()
        for frame in clip:
            motion = front(frame)
            if progress:
                progress(1)
            if motion is not None:
                yield frame, motion
    front.reset()


def motion_settings(params: dict[str, Any], box: int) -> MotionSettings:
    return MotionSettings(gap=param(params, "gap", 2), candidates=param(params, "candidates", 3), box=int(box),
                          min_speed=param(params, "min_speed", 0.3, float),
                          coarse_preset=str(params.get("coarse_preset", "fast")),
                          coarse_scale=param(params, "coarse_scale", 0),
                          coarse_refine=param(params, "coarse_refine", COARSE_REFINE))


def front_params(front: MotionFrontEnd) -> dict[str, Any]:
    """The fitted front end's settings a bundle stores, so it loads with the front end it was calibrated on."""
    return {"box": front.s.box, "coarse_refine": front.s.coarse_refine}


def saved_params(params: dict[str, Any]) -> dict[str, Any]:
    """A bundle's stored params, with ``coarse_refine`` as it was fitted when a bundle saved before the
    setting existed leaves it out."""
    return params if "coarse_refine" in params else {**params, "coarse_refine": LEGACY_COARSE_REFINE}


def check_motion_params(params: dict[str, Any]) -> None:
    """Front-end params are checked when a model is built, not after minutes of fitting (ConfigError names them)."""
    box = params.get("box", "auto")
    motion_settings(params, box if isinstance(box, int) else MotionSettings().box).validate()


def resolve_box(params: dict[str, Any], clips: Sequence[Sequence[Frame]]) -> int:
    """``box`` param: an int, or "auto" (default) = the typical moving-object size of the footage."""
    box = params.get("box", "auto")
    if box == "auto":
        return max(8, min(128, typical_object_size(clips, param(params, "gap", 2))))
    try:
        return int(box)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"box must be an integer number of pixels or 'auto', got {box!r}") from err


# ---------------------------------------------------------------- the flow model
@register
class FlowModel(AnomalyModel):
    """Speed of the fastest moving object (gated full-resolution DIS flow), with per-cell normal statistics."""

    type_key = "flow"
    version = "1"
    capabilities = frozenset({Capability.MOTION})

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.grid: tuple[int, int] = (param(params, "grid_rows", 6), param(params, "grid_cols", 9))
        check_motion_params(params)
        self.normalize = str(params.get("normalize", "none"))
        if self.normalize not in ("none", "cell"):
            raise ConfigError(f"flow normalize must be 'none' or 'cell', got {self.normalize!r}")
        self.box: int | None = int(params["box"]) if isinstance(params.get("box"), int) else None
        self.cell_q99: np.ndarray | None = None  # (rows, cols) normal speed 99th percentile
        self.cell_dir: np.ndarray | None = None  # (rows, cols, 2) mean unit direction of normal motion
        self.global_q99 = 1.0
        self.front: MotionFrontEnd | None = None
        if self.box is not None and params.get("fitted"):
            self.front = MotionFrontEnd(motion_settings(params, self.box))

    # -- fitting
    def fit(self, clips: Sequence[Iterable[Frame]], *, progress: ProgressFn | None = None) -> None:
        frames = [list(c) for c in clips]
        self.box = resolve_box(self.params, frames)
        self.front = MotionFrontEnd(motion_settings(self.params, self.box))
        rows, cols = self.grid
        speeds: list[list[float]] = [[] for _ in range(rows * cols)]
        dirs = np.zeros((rows * cols, 2), np.float64)
        for frame, motion in iter_motion(self.front, frames, progress):
            for c in motion.candidates:
                cell = self._cell(c.x, c.y, frame.shape)
                speeds[cell].append(c.speed)
                norm = math.hypot(c.dx, c.dy)
                if norm > 0:
                    dirs[cell] += (c.dx / norm, c.dy / norm)
        everything = [s for cell in speeds for s in cell]
        self.global_q99 = float(np.percentile(everything, 99)) if everything else 1.0
        q = [float(np.percentile(s, 99)) if len(s) >= 20 else 0.0 for s in speeds]
        self.cell_q99 = np.asarray(q, np.float64).reshape(rows, cols)
        counts = np.array([max(1, len(s)) for s in speeds], np.float64)[:, None]
        self.cell_dir = (dirs / counts).reshape(rows, cols, 2)

    def _cell(self, x: float, y: float, shape: tuple[int, int]) -> int:
        rows, cols = self.grid
        r = min(rows - 1, max(0, int(y * rows / shape[0])))
        c = min(cols - 1, max(0, int(x * cols / shape[1])))
        return r * cols + c

    def _cell_level(self, cell: int) -> float:
        assert self.cell_q99 is not None
        return max(float(self.cell_q99.ravel()[cell]), self.global_q99)

    # -- scoring
    def reset(self) -> None:
        if self.front is not None:
            self.front.reset()

    def score(self, frame: Frame) -> ModelScore:
        if self.front is None or self.cell_q99 is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted (or loaded from a bundle) before score()")
        motion = self.front(frame)
        if motion is None or not motion.candidates:
            return ModelScore(raw=0.0)
        best, best_value, best_cell = motion.candidates[0], -1.0, 0
        for c in motion.candidates:
            cell = self._cell(c.x, c.y, frame.shape)
            value = c.speed / self._cell_level(cell) * self.global_q99 if self.normalize == "cell" else c.speed
            if value > best_value:
                best, best_value, best_cell = c, value, cell
        return ModelScore(raw=float(best_value), evidence=self._evidence(best, best_cell), boxes=(self._box(best, frame),))

    def _box(self, c: Candidate, frame: Frame) -> tuple[int, int, int, int]:
        assert self.box is not None
        h, w = frame.shape
        side = self.box
        x0, y0 = max(0, c.x - side // 2), max(0, c.y - side // 2)
        return (int(x0), int(y0), int(min(side, w - x0)), int(min(side, h - y0)))

    def _evidence(self, c: Candidate, cell: int) -> tuple[Evidence, ...]:
        assert self.cell_dir is not None
        rows, cols = self.grid
        level = self._cell_level(cell)
        where = (float(cell // cols), float(cell % cols))
        ev = [Evidence("cell", f"speed {c.speed:.1f}px/gap vs normal p99 {level:.1f}", c.speed / level, where)]
        usual = self.cell_dir.reshape(-1, 2)[cell]
        norm = math.hypot(c.dx, c.dy)
        if norm > 0 and float(np.hypot(*usual)) > 0.5:
            cos = float((c.dx * usual[0] + c.dy * usual[1]) / (norm * float(np.hypot(*usual))))
            ev.append(Evidence("feature", "direction vs usual (cos)", cos))
        return tuple(ev)

    # -- persistence
    def save(self, directory: Path) -> dict[str, Any]:
        if self.cell_q99 is None or self.cell_dir is None or self.front is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted before save()")
        stats = {"cell_q99": self.cell_q99.tolist(), "cell_dir": self.cell_dir.tolist(), "global_q99": self.global_q99}
        (directory / STATS_FILE).write_text(json.dumps(stats), encoding="utf-8")
        return {**self.params, **front_params(self.front), "fitted": True}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        path = directory / STATS_FILE
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
            model = cls(**saved_params(params))
            model.cell_q99 = np.asarray(stats["cell_q99"], np.float64)
            model.cell_dir = np.asarray(stats["cell_dir"], np.float64)
            model.global_q99 = float(stats["global_q99"])
        except (OSError, ValueError, KeyError) as err:
            raise ModelFileError(f"flow statistics {path} are unreadable: {err}") from err
        if model.cell_q99.shape != model.grid or model.front is None:
            raise ModelFileError(f"flow statistics {path} have grid {model.cell_q99.shape}, params say {model.grid}")
        return model


__all__ = ["COARSE_SCALES", "Candidate", "FlowModel", "Motion", "MotionFrontEnd", "MotionSettings",
           "check_motion_params", "clear_cache", "frame_key", "iter_motion", "motion_settings", "resolve_box", "rigidity"]
