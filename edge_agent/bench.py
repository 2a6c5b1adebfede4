"""Benchmark on real footage laid out like UCSD Ped2 (``python -m edge_agent.bench`` / ``vad-edge bench``).

    python -m edge_agent.bench --dataset ../shared/data/ucsd_ped2 --out bench-out

Dataset layout: ``training/frames/<clip>/*.jpg|png`` (normal only), ``testing/frames/<clip>/...``
and ``test_frame_labels.json`` (``{"clips": {"<clip>": "0011..."}}``, one character per frame in
sorted file order, ``1`` = anomalous).

It measures what a customer gets: ``vad-edge train`` on the training clips with its defaults,
then the shipped pipeline on every test clip. All causal (each score uses that frame and earlier
ones only, no per-video normalisation), fixed seeds, test labels read only to score:

1. **train** = :func:`edge_agent.training.fit.fit_bundle` with validation
   (:mod:`edge_agent.training.validate`): k-fold cross-validation over the training clips with
   synthetic anomalies chooses smoothing, ensemble weights, k and threshold; then the models are
   fitted on all training clips. The validation figures are printed next to the test figures.
2. **test**: the bundle's pipeline (``build_pipeline``, the tuning applied: what ``vad-edge run``
   builds) processes every test clip frame by frame, single-threaded and timed. Frame figures
   (micro AUC - the headline -, macro AUC, AP, EER) are for the k-of-n level, per model, and the
   fused mean; event figures (intervals caught, median delay, false events) come from the
   pipeline's own event builder.
3. **secondary** (labelled so, never the headline): the recorded model scores are replayed
   through the same ``Pipeline.decide`` with the older defaults (3 s EMA, 2 of 3) and with each
   smoothing candidate at the chosen weights, to show how validation's ranking carries to test.

Writes ``OUT/results.json``, ``OUT/plots/<clip>.png``, ``OUT/scores.npz`` (per-frame calibrated scores) and
``OUT/bundle``; prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent import metrics as M
from edge_agent.config import DEFAULT_MODELS, CameraConfig, SceneClass
from edge_agent.errors import EdgeError, SourceError
from edge_agent.models.base import Frame
from edge_agent.models.flow import COARSE_SCALES, PRESETS, clear_cache, motion_cache
from edge_agent.models.runtimes import one_thread_per_camera
from edge_agent.config import Smoothing
from edge_agent.models.base import ModelScore
from edge_agent.pipeline.pipeline import Member, Pipeline
from edge_agent.pipeline.tuning import with_settings
from edge_agent.pipeline.preprocess import Preprocess
from edge_agent.pipeline.sources import IMAGE_SUFFIXES, RawFrame
from edge_agent.training.fit import DEFAULT_FOLDS
from edge_agent.training.validate import (
    SMOOTHING_CANDIDATES,
    Candidate,
    Recorded,
    Validation,
    gate_levels,
    ranked,
    record,
    replay,
    smoothing_label,
)

DEFAULT_DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ucsd_ped2"
LABELS_FILE = "test_frame_labels.json"
BENCH_MODELS = DEFAULT_MODELS[SceneClass.OUTDOOR]  # the models `vad-edge train --scene outdoor` fits


# ---------------------------------------------------------------- data
@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    decode_s: list[float]
    labels: np.ndarray | None = None
    fps: float = 10.0

    @property
    def ts(self) -> np.ndarray:
        return np.arange(len(self.frames)) / self.fps

    def raw_frames(self) -> list[RawFrame]:
        return [RawFrame(index=i, ts=i / self.fps, image=img) for i, img in enumerate(self.frames)]


FAR_SCALE = 0.6  # --variant far: the scene's size in the frame


def far_view(img: np.ndarray) -> np.ndarray:
    """``--variant far``: the scene at ``FAR_SCALE`` of its size in the middle of a still, flat
    surround (the frame's median grey), stored at half resolution - smaller, farther people at a
    lower native resolution, as another camera would see them. Not a new dataset: the same footage
    and labels, a harder view of them. (A first version mirrored the scene around itself to fill
    the frame: that put upside-down walkers above and below it, and the perspective fitted there
    had people shrink towards the camera.)"""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w * FAR_SCALE)), max(1, round(h * FAR_SCALE))), interpolation=cv2.INTER_AREA)
    top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    full = np.full_like(img, int(np.median(img)))
    full[top:top + small.shape[0], left:left + small.shape[1]] = small
    return cv2.resize(full, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


TILT_TOP = 0.4  # --variant tilt: the width of the scene's top edge, against its bottom edge


def tilted_view(img: np.ndarray) -> np.ndarray:
    """``--variant tilt``: the scene warped into a trapezoid whose top edge is ``TILT_TOP`` of its
    bottom edge (a homography: rows near the top are also squeezed together), in a still, flat
    surround (the frame's median grey), stored at half resolution - the strong perspective of a
    camera looking down a long walkway: people near the top are a fraction of the height of those
    near the bottom and cross a fraction of the pixels per second. Same footage and labels."""
    h, w = img.shape[:2]
    inset = w * (1.0 - TILT_TOP) / 2.0
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[inset, 0], [w - inset, 0], [w, h], [0, h]])
    warp = cv2.getPerspectiveTransform(src, dst)
    full = cv2.warpPerspective(img, warp, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=int(np.median(img)))
    return cv2.resize(full, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {"none": None, "far": far_view, "tilt": tilted_view}


def read_clip(folder: Path, fps: float, max_frames: int | None, variant: str = "none") -> Clip:
    view = VARIANTS[variant]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if max_frames:
        files = files[:max_frames]
    frames, decode = [], []
    for f in files:
        t0 = time.perf_counter()
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        decode.append(time.perf_counter() - t0)
        if img is None:
            raise SourceError(f"cannot decode image {f}")
        frames.append(view(img) if view is not None else img)
    if not frames:
        raise SourceError(f"clip folder {folder} holds no images ({sorted(IMAGE_SUFFIXES)})")
    return Clip(folder.name, frames, decode, fps=fps)


def read_split(root: Path, split: str, fps: float, limit: int | None, max_frames: int | None,
               variant: str = "none") -> list[Clip]:
    folder = root / split / "frames"
    if not folder.is_dir():
        raise SourceError(f"dataset {root} has no {split}/frames folder (expected the UCSD Ped2 layout)")
    names = sorted(d for d in folder.iterdir() if d.is_dir())
    if not names:
        raise SourceError(f"{folder} holds no clip folders")
    return [read_clip(d, fps, max_frames, variant) for d in names[:limit]]


def attach_labels(root: Path, clips: Sequence[Clip]) -> None:
    path = root / LABELS_FILE
    try:
        table = json.loads(path.read_text(encoding="utf-8"))["clips"]
    except (OSError, ValueError, KeyError) as err:
        raise SourceError(f"cannot read test labels {path}: {err}") from err
    for clip in clips:
        text = table.get(clip.name)
        if text is None:
            raise SourceError(f"{path} has no labels for test clip {clip.name!r}")
        if len(text) < len(clip.frames):
            raise SourceError(f"{path}: clip {clip.name!r} has {len(text)} labels for {len(clip.frames)} frames")
        clip.labels = np.array([c == "1" for c in text[: len(clip.frames)]], bool)


# ---------------------------------------------------------------- scoring
@dataclass
class ClipRun:
    """One test clip through the shipped pipeline: model scores, the pipeline's own smoothed
    scores, level and fused score, its event messages as an alert mask, per-frame latency."""

    name: str
    ts: np.ndarray
    raw: list[dict[str, ModelScore]]
    calibrated: dict[str, np.ndarray]  # unsmoothed calibrated score per voting model
    latency_s: np.ndarray
    labels: np.ndarray | None
    smoothed: dict[str, np.ndarray] = field(default_factory=dict)
    fused: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alert: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    events: int = 0


def run_clip(pipeline: Pipeline, clip: Clip) -> ClipRun:
    pipeline.reset()
    names = list(pipeline.weights)
    cals = {m.name: m.calibrator for m in pipeline.members if m.name in pipeline.weights}
    raws, latency, fused, alert = [], [], [], []
    smoothed: dict[str, list[float]] = {n: [] for n in names}
    open_, events = False, 0
    for raw_frame in clip.raw_frames():
        t0 = time.perf_counter()
        msg = pipeline.process_frame(raw_frame)
        latency.append(time.perf_counter() - t0)
        snap = pipeline.last_snapshot
        assert snap is not None
        raws.append(snap.raw)
        fused.append(snap.fused)
        for n in names:
            smoothed[n].append(snap.scores[n])
        if msg is not None and msg.type == "event_open":
            open_, events = True, events + 1
        alert.append(open_)
        if msg is not None and msg.type == "event_close":
            open_ = False
    pipeline.events.close(pipeline.last_ts)  # the source ended: an open event ends, as in `vad-edge run`
    calibrated = {n: np.nan_to_num(np.asarray([cals[n](r[n].raw) if cals[n] is not None else r[n].raw for r in raws]))
                  for n in names}
    return ClipRun(clip.name, clip.ts, raws, calibrated, np.asarray(latency), clip.labels,
                   {n: np.asarray(v) for n, v in smoothed.items()}, np.asarray(fused), np.asarray(alert), events)


def levels(run: ClipRun, weights: dict[str, float], k: float) -> np.ndarray:
    names = [n for n, w in weights.items() if w > 0]
    mat = np.stack([run.smoothed[n] for n in names], 1)
    return gate_levels(mat, [weights[n] for n in names], k)


def replayed(camera: CameraConfig, every: Sequence[Member], runs: Sequence[ClipRun], smoothing: Smoothing,
             weights: dict[str, float], k: float, threshold: float) -> list[ClipRun]:
    """The recorded model scores of ``runs`` through ``Pipeline.decide`` with other settings."""
    cam, members = with_settings(camera, every, smoothing=smoothing, weights=weights, k=k, threshold=threshold)
    p = Pipeline(cam, members)
    names = list(p.weights)
    out = []
    for r in runs:
        rec = Recorded(0, r.name, "test", r.ts, r.raw, r.labels if r.labels is not None else np.zeros(len(r.ts), bool))
        mat, fused, alert = replay(cam, members, rec, p)
        out.append(ClipRun(r.name, r.ts, r.raw, r.calibrated, r.latency_s, r.labels,
                           {n: mat[:, i] for i, n in enumerate(names)}, fused, alert, len(M.intervals(alert))))
    return out


# ---------------------------------------------------------------- metrics
def frame_metrics(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> dict[str, float | int]:
    y, s = np.concatenate(labels), np.concatenate(scores)
    s = np.where(np.isfinite(s), s, np.nanmin(np.where(np.isfinite(s), s, np.nan)) - 1.0)
    macro, n = M.macro_auc(labels, [np.where(np.isfinite(x), x, s.min()) for x in scores])
    return {"micro_auc": M.roc_auc(y, s), "macro_auc": macro, "macro_auc_clips": n, "ap": M.average_precision(y, s),
            "eer": M.equal_error_rate(y, s)}


# ---------------------------------------------------------------- speed
def model_speed(pipeline: Pipeline, clip_frames: Sequence[Frame]) -> dict[str, float]:
    """Frames/s of each voting model alone (shared motion cache cleared, so each pays its front end)."""
    out = {}
    for m in pipeline.members:
        clear_cache()
        m.model.reset()
        t0 = time.perf_counter()
        for f in clip_frames:
            m.model.score(f)
        out[m.name] = len(clip_frames) / max(1e-9, time.perf_counter() - t0)
        m.model.reset()
    clear_cache()
    return out


REFERENCE_REPEATS = 5  # timings of the machine reference after each test clip; the median of all is reported


class MachineReference:
    """The machine's speed while the pipeline is timed: one full-frame OpenCV DIS flow (FAST preset,
    one thread) between two frames of the footage, timed ``REFERENCE_REPEATS`` times after each test
    clip, so that its median covers the same minutes as the pipeline's latencies. The pipeline's
    latency in units of it is the figure to compare runs by: this box's Ped2 fps varied 2.4x in one
    day (55 to 132). (A first version timed 30 in one burst at the end of the bench: 1.06 and 1.75 ms
    in two runs twenty minutes apart while the pipeline's p50 moved only from 7.6 to 7.9 ms - a burst of
    30 ms measures a moment, not the run.)"""

    def __init__(self, frames: Sequence[Frame]) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._a, self._b = frames[0].gray, frames[min(2, len(frames) - 1)].gray
        self.times: list[float] = []

    def sample(self, repeats: int = REFERENCE_REPEATS) -> None:
        for _ in range(repeats):
            t0 = time.perf_counter()
            self._dis.calc(self._a, self._b, None)
            self.times.append(time.perf_counter() - t0)

    def ms(self) -> float:
        """Median of every timing so far, in ms (NaN before the first)."""
        return 1e3 * float(np.median(self.times)) if self.times else float("nan")


def speed_summary(test_runs: Sequence[ClipRun], test: Sequence[Clip]) -> dict[str, float]:
    lat = np.concatenate([r.latency_s for r in test_runs])
    dec = np.concatenate([np.asarray(c.decode_s) for c in test])
    return {"pipeline_fps_excl_decode": 1.0 / float(lat.mean()), "pipeline_fps_incl_decode": 1.0 / float(lat.mean() + dec.mean()),
            "decode_ms_mean": 1e3 * float(dec.mean()), "latency_ms_p50": 1e3 * float(np.percentile(lat, 50)),
            "latency_ms_p99": 1e3 * float(np.percentile(lat, 99)), "latency_ms_max": 1e3 * float(lat.max()),
            "frames": int(lat.size)}


def peak_memory_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include a forking parent's pages)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def footprint(camera_json: str, bundle: str, clip_dir: str, n: int) -> dict[str, float]:
    """In a fresh process: load the bundle, read + score ``n`` frames from disk; peak memory and fps there."""
    from edge_agent.pipeline.build import build_pipeline

    one_thread_per_camera()
    camera = CameraConfig.model_validate_json(camera_json)
    pipeline = build_pipeline(camera, bundle=bundle)
    files = sorted(p for p in Path(clip_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:n]
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        pipeline.process_frame(RawFrame(index=i, ts=i / (camera.fps or 10.0), image=img))
    seconds = time.perf_counter() - t0
    return {"agent_peak_rss_mb": peak_memory_mb(), "agent_fps_incl_decode": len(files) / max(seconds, 1e-9),
            "agent_frames": len(files)}


def measure_footprint(camera: CameraConfig, bundle: Path, clip_dir: Path, n: int) -> dict[str, float]:
    """Run :func:`footprint` in a subprocess, so the number is the agent's, not this bench's (torch, dataset)."""
    import subprocess

    code = ("import json, sys; from edge_agent.bench import footprint; "
            "print(json.dumps(footprint(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, camera.model_dump_json(), str(bundle), str(clip_dir), str(n)],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        return {"agent_error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- plots
def plot_clip(path: Path, run: ClipRun, scores: dict[str, np.ndarray], threshold: float, alert: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    if run.labels is not None:
        for i, (a, b) in enumerate(M.intervals(run.labels)):
            ax.axvspan(run.ts[a], run.ts[b], color="tab:red", alpha=0.15, lw=0, label=None if i else "ground truth")
    for name, s in scores.items():
        style = {"lw": 2.0, "color": "black"} if name == "ensemble_fused" else {"lw": 0.9, "alpha": 0.8}
        ax.plot(run.ts, s, label=name, **style)
    ax.axhline(threshold, color="tab:gray", ls="--", lw=1, label=f"threshold {threshold:g}")
    on = M.intervals(alert)
    for a, b in on:
        ax.axvspan(run.ts[a], run.ts[b], ymin=0, ymax=0.04, color="tab:orange", lw=0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("calibrated score")
    ax.set_title(f"clip {run.name} (orange bar: k-of-n alert)")
    ax.legend(fontsize=7, loc="upper left", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------- orchestration
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vad-edge bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="folder laid out like UCSD Ped2")
    p.add_argument("--out", type=Path, default=Path("bench-out"), help="results.json, plots/ and bundle/ go here")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate of the image folders (Ped2: 10)")
    p.add_argument("--variant", default="none", choices=sorted(VARIANTS),
                   help=f"far: every frame at {FAR_SCALE:g}x in a flat grey surround, at half resolution; "
                        f"tilt: warped so the top edge is {TILT_TOP:g}x the bottom (strong perspective), at half resolution "
                        "(another camera's view of the same footage; the shipped configuration still runs)")
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="cross-validation folds over the training clips")
    p.add_argument("--no-validate", action="store_true",
                   help="secondary: skip validation; the config defaults (below) instead of chosen settings")
    p.add_argument("--smooth-s", type=float, default=None, help="secondary: a plain EMA window instead of the chosen one")
    p.add_argument("--weights", default=None, help="secondary: fixed ensemble weights name=w,... (models to fit)")
    p.add_argument("--k", type=float, default=None, help="secondary: weighted votes for the k-of-n gate")
    p.add_argument("--threshold", type=float, default=None, help="secondary: calibrated vote / alert threshold")
    p.add_argument("--train-clips", type=int, default=None, help="use only the first N training clips")
    p.add_argument("--test-clips", type=int, default=None, help="use only the first N test clips")
    p.add_argument("--max-frames", type=int, default=None, help="use only the first N frames of each clip")
    p.add_argument("--speed-frames", type=int, default=300, help="frames timed per model alone")
    p.add_argument("--epochs", type=int, default=None, help="autoencoder training epochs (default: the model's, 6)")
    p.add_argument("--coarse-preset", default=None, choices=sorted(PRESETS),
                   help="DIS preset of the motion front end's half-resolution pass (default: the model's)")
    p.add_argument("--coarse-scale", type=int, default=None, choices=list(COARSE_SCALES),
                   help="finest DIS pyramid level of that pass (1: quarter-resolution coarse flow, faster)")
    p.add_argument("--no-plots", action="store_true")
    return p.parse_args(list(argv))


def parse_weights(text: str) -> dict[str, float]:
    out = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            w = float(value)
        except ValueError:
            w = float("nan")
        if not sep or name not in BENCH_MODELS or not w > 0:
            raise EdgeError(f"--weights entry {part!r} must be name=w with w > 0 and name in [{', '.join(sorted(BENCH_MODELS))}]")
        out[name] = w
    if not out:
        raise EdgeError(f"--weights {text!r} names no model")
    return out


def secondary_options(args: argparse.Namespace) -> list[str]:
    """The options that make this run something other than the shipped configuration."""
    names = {"no_validate": "--no-validate", "smooth_s": "--smooth-s", "weights": "--weights", "k": "--k",
             "threshold": "--threshold", "epochs": "--epochs", "coarse_preset": "--coarse-preset",
             "coarse_scale": "--coarse-scale"}
    return [flag for key, flag in names.items() if getattr(args, key) not in (None, False)]


def bench_camera(args: argparse.Namespace) -> CameraConfig:
    """What `vad-edge train --scene outdoor` builds, unless a secondary option says otherwise."""
    data: dict[str, Any] = {"id": "bench", "source": str(args.dataset), "fps": args.fps, "scene": "outdoor"}
    params: dict[str, Any] = {k: v for k, v in (("coarse_preset", args.coarse_preset), ("coarse_scale", args.coarse_scale))
                              if v is not None}
    if args.weights is not None or params or args.epochs is not None:
        weights = parse_weights(args.weights or "flow=1,objects=1,autoencoder=1")
        ae = {**params, **({"epochs": args.epochs} if args.epochs is not None else {})}
        data["models"] = [{"type": n, "weight": w, "params": ae if n == "autoencoder" else params} for n, w in weights.items()]
    if args.smooth_s is not None:
        data["smoothing"] = {"window_s": args.smooth_s}
    consensus = {k: v for k, v in (("k", args.k), ("threshold", args.threshold)) if v is not None}
    if consensus:
        data["consensus"] = consensus
    return CameraConfig.model_validate(data)


def to_frames(camera: CameraConfig, clips: Sequence[Clip]) -> list[list[Frame]]:
    pre = Preprocess(camera)
    return [[pre(r) for r in c.raw_frames()] for c in clips]


def train(camera: CameraConfig, clips: Sequence[Clip], out: Path, args: argparse.Namespace
          ) -> tuple[Path, float, dict[str, Any], Validation | None]:
    """``vad-edge train``: validation (unless --no-validate), then the final fit, with a progress bar."""
    from tqdm import tqdm

    from edge_agent.training.fit import fit_bundle, total_work
    from edge_agent.training.validate import tune_camera

    frames = to_frames(camera, clips)
    validate = not args.no_validate
    t0 = time.perf_counter()
    with tqdm(total=total_work(camera, frames, validate=validate, folds=args.folds), desc="train", unit="frame",
              file=sys.stderr, mininterval=2.0) as bar, motion_cache(sum(map(len, frames)) + 16):  # as fit_bundle
        validation = tune_camera(camera, frames, folds=args.folds, progress=bar.update,
                                 names=[c.name for c in clips]) if validate else None
        bundle = fit_bundle(camera, frames, out / "bundle", progress=bar.update, validate=False,
                            tuning=validation.tuning if validation else None)
    seconds = time.perf_counter() - t0
    if validation is not None:
        save_validation(out / "validation.npz", validation)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return bundle, seconds, manifest.get("training", {}), validation


def save_validation(path: Path, validation: Validation) -> None:
    """Validation's per-frame calibrated (unsmoothed) scores, labels and kinds, for offline analysis."""
    arrays: dict[str, np.ndarray] = {}
    for f, fold in enumerate(validation.folds):
        cals = {m.name: m.calibrator for m in fold.members if m.votes}
        for j, rec in enumerate(fold.clips):
            key = f"{f}/{rec.name}/{rec.kind}/{j}"
            for n, cal in cals.items():
                arrays[f"{key}/{n}"] = np.array([cal(r[n].raw) if cal is not None else r[n].raw for r in rec.raw])
            arrays[f"{key}/labels"] = rec.labels
            arrays[f"{key}/ts"] = rec.ts
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def score_clips(pipeline: Pipeline, clips: Sequence[Clip], desc: str, reference: MachineReference | None = None
                ) -> list[ClipRun]:
    """Every clip through ``pipeline``; the machine ``reference`` is sampled after each."""
    from tqdm import tqdm

    runs = []
    with tqdm(total=sum(len(c.frames) for c in clips), desc=desc, unit="frame", file=sys.stderr, mininterval=2.0) as bar:
        for c in clips:
            runs.append(run_clip(pipeline, c))
            if reference is not None:
                reference.sample()
            bar.update(len(c.frames))
    return runs


def add_unrun_members(runs: Sequence[ClipRun], members: Sequence[Member], frames: Sequence[Sequence[Frame]]) -> None:
    """Record the models the shipped pipeline leaves out, so secondary settings can be replayed."""
    if not members:
        return
    for r, clip in zip(runs, frames, strict=True):
        for have, extra in zip(r.raw, record(members, clip), strict=True):
            have.update(extra)


def test_figures(runs: Sequence[ClipRun], weights: dict[str, float], k: float,
                 per_model: Sequence[ClipRun] | None = None) -> dict[str, Any]:
    """Frame figures per model (from ``per_model`` when given: every fitted model at the same
    smoothing), for the fused mean and the k-of-n level; event figures from the alert masks."""
    labels = [r.labels for r in runs if r.labels is not None]
    models = per_model or runs
    table: dict[str, Any] = {n: frame_metrics(labels, [r.smoothed[n] for r in models]) for n in models[0].smoothed}
    table["ensemble_fused"] = frame_metrics(labels, [r.fused for r in runs])
    table["ensemble_gate"] = frame_metrics(labels, [levels(r, weights, k) for r in runs])
    stats = M.merge_event_stats([M.event_stats(r.labels, r.alert, r.ts) for r in runs if r.labels is not None])
    table["ensemble_gate"]["events"] = {"gt_intervals": stats.gt_events, "caught": stats.caught,
                                        "caught_share": stats.caught_share, "median_delay_s": stats.median_delay_s,
                                        "max_delay_s": max(stats.delays_s, default=float("nan")),
                                        "events": stats.alerts, "false_events": stats.false_alerts}
    return table


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    from edge_agent.models.bundle import load_bundle
    from edge_agent.pipeline.build import build_pipeline

    cv2.setNumThreads(1)
    started = time.perf_counter()
    camera = bench_camera(args)
    secondary = secondary_options(args)
    train_clips = read_split(args.dataset, "training", args.fps, args.train_clips, args.max_frames, args.variant)
    test = read_split(args.dataset, "testing", args.fps, args.test_clips, args.max_frames, args.variant)
    log(f"dataset {args.dataset}{f' (variant {args.variant})' if args.variant != 'none' else ''}: "
        f"{len(train_clips)} training clips, {len(test)} test clips"
        + (f"; SECONDARY run ({', '.join(secondary)}): not the shipped configuration" if secondary else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    bundle, train_s, training, validation = train(camera, train_clips, args.out, args)
    attach_labels(args.dataset, test)  # test labels are read only now, after every setting is fixed
    one_thread_per_camera()  # as `vad-edge run` scores (training before it may use every core)
    pipeline = build_pipeline(camera, bundle=bundle)
    shipped = pipeline.camera
    speed_frames = to_frames(camera, test[:1])[0][: args.speed_frames]
    reference = MachineReference(speed_frames)
    test_runs = score_clips(pipeline, test, "test", reference)
    every = load_bundle(bundle).members
    unrun = [m for m in every if m.votes and m.name not in pipeline.weights]
    add_unrun_members(test_runs, unrun, to_frames(camera, test) if unrun else [])
    all_names = [m.name for m in every if m.votes]
    every_model = replayed(camera, every, test_runs, shipped.smoothing, {n: 1.0 for n in all_names}, 1.0,
                           shipped.consensus.threshold)
    head = test_figures(test_runs, pipeline.weights, pipeline.consensus.k, every_model)
    # secondary: the same recorded scores through Pipeline.decide with other settings (never the headline)
    old = replayed(camera, every, test_runs, Smoothing(window_s=3.0), {n: 1.0 for n in all_names}, 2.0, 1.0)
    ema03 = replayed(camera, every, test_runs, Smoothing(window_s=0.3), {n: 1.0 for n in all_names}, 2.0, 1.0)
    ranking = []
    if validation is not None:
        for sm in SMOOTHING_CANDIDATES:
            c = next(c for c in validation.candidates if c.smoothing == sm and c.weights == pipeline_weights(pipeline, all_names)
                     and c.k == pipeline.consensus.k)
            rr = replayed(camera, every, test_runs, sm, c.weights, c.k, c.threshold)
            figures = test_figures(rr, c.weights, c.k)["ensemble_gate"]
            ranking.append({"smoothing": smoothing_label(sm), "validation_caught": c.caught, "validation_delay_s": c.delay_s,
                            "validation_auc": c.auc, "test_auc": figures["micro_auc"],
                            "test_caught": figures["events"]["caught"], "test_intervals": figures["events"]["gt_intervals"]})
    secondary_tables = {"old default (3 s EMA, 2 of 3, threshold 1)": test_figures(old, {n: 1.0 for n in all_names}, 2.0),
                        "0.3 s EMA, 2 of 3, threshold 1": test_figures(ema03, {n: 1.0 for n in all_names}, 2.0)}
    speed = {**speed_summary(test_runs, test), "model_fps": model_speed(pipeline, speed_frames),
             "reference_ms": reference.ms(), "reference_timings": len(reference.times),
             "threads": 1, "resolution": list(camera.resize), "peak_rss_mb": peak_memory_mb(),
             **measure_footprint(camera, bundle, args.dataset / "testing" / "frames" / test[0].name, args.speed_frames)}
    save_scores(args.out / "scores.npz", test_runs)
    if not args.no_plots:
        write_plots(args.out / "plots", shipped, pipeline, test_runs)
    return {"dataset": str(args.dataset), "variant": args.variant, "secondary": secondary, "shipped": shipped_settings(pipeline),
            "validation": validation.tuning.validation if validation else None,
            "validation_top": [candidate_row(c) for c in ranked(validation.candidates)[:8]]
            if validation else [],
            "metrics": head, "secondary_tables": secondary_tables, "smoothing_ranking": ranking,
            "train": {**training, "fit_seconds": training.get("seconds"), "seconds": train_s,  # seconds: validation + fit
                      "validation_seconds": validation.seconds if validation else None,
                      "threads": "opencv 1, torch 2"},
            "speed": speed, "clips": {"training": [c.name for c in train_clips], "test": [c.name for c in test]},
            "bench_seconds": time.perf_counter() - started}


def pipeline_weights(pipeline: Pipeline, names: Sequence[str]) -> dict[str, float]:
    return {n: pipeline.weights.get(n, 0.0) for n in names}


def shipped_settings(pipeline: Pipeline) -> dict[str, Any]:
    cam = pipeline.camera
    return {"weights": dict(pipeline.weights), "k": pipeline.consensus.k, "threshold": cam.consensus.threshold,
            "smoothing": smoothing_label(cam.smoothing), "hysteresis": cam.consensus.hysteresis,
            "close_after_s": cam.consensus.close_after_s}


def candidate_row(c: Candidate) -> dict[str, Any]:
    return {"smoothing": smoothing_label(c.smoothing), "weights": c.weights, "k": c.k, "validation_auc": c.auc,
            "early_auc": c.early_auc, "threshold": c.threshold, "caught": c.caught, "delay_s": c.delay_s,
            "auc_by_kind": c.auc_by_kind}


def save_scores(path: Path, test_runs: Sequence[ClipRun]) -> None:
    """Calibrated per-frame scores (unsmoothed and as shipped), labels and alerts, for offline analysis."""
    arrays: dict[str, np.ndarray] = {}
    for r in test_runs:
        for name, v in r.calibrated.items():
            arrays[f"test/{r.name}/{name}"] = v
        for name, v in r.smoothed.items():
            arrays[f"test/{r.name}/{name}_smoothed"] = v
        if r.labels is not None:
            arrays[f"test/{r.name}/labels"] = r.labels
        arrays[f"test/{r.name}/alert"] = r.alert
        arrays[f"test/{r.name}/latency_s"] = r.latency_s
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def write_plots(folder: Path, camera: CameraConfig, pipeline: Pipeline, runs: Sequence[ClipRun]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for r in runs:
        shown = {**r.smoothed, "ensemble_gate": levels(r, pipeline.weights, pipeline.consensus.k)}
        plot_clip(folder / f"{r.name}.png", r, shown, camera.consensus.threshold, r.alert)


# ---------------------------------------------------------------- report
def _fmt(x: Any, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.1f}" if pct else (f"{x:.2f}" if isinstance(x, float) else str(x))


def _frame_rows(table: dict[str, Any]) -> list[str]:
    return [f"  {name:<16}{_fmt(m['micro_auc'], True):>9}{_fmt(m['macro_auc'], True):>9}{_fmt(m['ap'], True):>7}"
            f"{_fmt(m['eer'], True):>7}" for name, m in table.items()]


def _events(e: dict[str, Any]) -> str:
    return (f"caught {e['caught']} of {e['gt_intervals']} intervals, median delay {_fmt(e['median_delay_s'])} s "
            f"(max {_fmt(e['max_delay_s'])} s), {e['events']} events, {e['false_events']} false")


def format_table(res: dict[str, Any]) -> str:
    sh = res["shipped"]
    lines = []
    if res.get("variant", "none") != "none":
        lines.append(f"dataset variant {res['variant']!r}: the same footage as another camera would see it (see --help)")
    if res["secondary"]:
        lines.append(f"SECONDARY run ({', '.join(res['secondary'])}): these are not the shipped configuration's figures")
    lines.append(f"shipped configuration (chosen by validation on training footage only): weights {sh['weights']}, "
                 f"k {sh['k']:g}, threshold {sh['threshold']:g}, smoothing {sh['smoothing']}")
    v = res["validation"]
    if v:
        e = v["events"]
        lines.append(f"validation ({v['folds']}-fold over the training clips + synthetic anomalies):")
        od = v["old_default"]
        lines.append(f"  chosen: caught {_fmt(v['caught'], True)}% of synthetic anomalies at threshold {sh['threshold']:g} "
                     f"(median delay {_fmt(v['delay_s'])} s), early AUC {_fmt(v['early_auc'], True)}, micro AUC "
                     f"{_fmt(v['auc'], True)}; by kind " + ", ".join(f"{k} {_fmt(a, True)}" for k, a in v["auc_by_kind"].items()))
        lines.append("  best single models: " + "; ".join(
            f"{n} caught {_fmt(b['caught'], True)}% at {b['threshold']:g} (delay {_fmt(b['delay_s'])} s, early AUC "
            f"{_fmt(b['early_auc'], True)}, AUC {_fmt(b['auc'], True)})" for n, b in v["best_single"].items()))
        if "caught_by_kind" in v:  # absent from bundles trained before it was reported
            rows = {"chosen": v["caught_by_kind"], **{n: b["caught_by_kind"] for n, b in v["best_single"].items()}}
            made = ", ".join(f"{n} {k}" for k, (_, n) in v["caught_by_kind"].items())
            lines.append(f"  caught in time by kind (of {made}): " + "; ".join(
                f"{who} " + ", ".join(f"{k} {hit}" for k, (hit, _) in by.items()) for who, by in rows.items()))
        lines.append(f"  old default (3 s EMA, 2 of 3): caught {_fmt(od['caught'], True)}% at {od['threshold']:g} "
                     f"(delay {_fmt(od['delay_s'])} s), early AUC {_fmt(od['early_auc'], True)}, AUC {_fmt(od['auc'], True)}")
        lines.append(f"  events: caught {_fmt(e['synthetic_caught_share'] * 100 if e['synthetic_intervals'] else None)}% of "
                     f"{e['synthetic_intervals']} synthetic anomalies, median delay {_fmt(e['synthetic_median_delay_s'])} s; "
                     f"{e['normal_events']} false events in {e['normal_seconds'] / 60:.1f} min of cross-validated normal "
                     f"footage ({_fmt(e['false_alerts_per_hour'])}/h, at most {_fmt(e.get('false_alerts_per_hour_95'))}/h "
                     f"at 95% confidence; each fold at the threshold the other folds chose)")
        r = v.get("runner_up")
        if r:
            lines.append(f"  runner-up (validation's choice without the chosen models): {r['weights']} k={r['k']:g}, "
                         f"{r['smoothing']}: caught {_fmt(r['caught'], True)}% at {r['threshold']:g}; caught in time by "
                         f"only one of the two: chosen {r['only_chosen']}, runner-up {r['only_runner_up']} "
                         f"(exact McNemar p = {r['p']:.2g})")
        lines.append("  next candidates: " + "; ".join(
            f"{c['smoothing']} {c['weights']} k={c['k']:g}: caught {_fmt(c['caught'], True)}% at {c['threshold']:g}, "
            f"delay {_fmt(c['delay_s'])} s" for c in res["validation_top"][1:4]))
    lines.append("test (causal frame AUC/AP/EER in %, shipped smoothing):")
    lines.append(f"  {'score':<16}{'microAUC':>9}{'macroAUC':>9}{'AP':>7}{'EER':>7}")
    lines += _frame_rows(res["metrics"])
    lines.append("  shipped events (the pipeline's event builder): " + _events(res["metrics"]["ensemble_gate"]["events"]))
    for name, table in res["secondary_tables"].items():
        lines.append(f"secondary, {name}: gate micro AUC {_fmt(table['ensemble_gate']['micro_auc'], True)}, "
                     + ", ".join(f"{n} {_fmt(table[n]['micro_auc'], True)}" for n in table if n not in ("ensemble_gate",))
                     + "; " + _events(table["ensemble_gate"]["events"]))
    if res["smoothing_ranking"]:
        lines.append("secondary, each smoothing at the chosen weights and its own validation threshold "
                     "(validation caught % / AUC -> test caught / AUC):")
        lines += [f"  {r['smoothing']:<44}{_fmt(r['validation_caught'], True):>6} /{_fmt(r['validation_auc'], True):>5} -> "
                  f"{r['test_caught']:>2} of {r['test_intervals']} /{_fmt(r['test_auc'], True):>5}"
                  for r in res["smoothing_ranking"]]
    s = res["speed"]
    lines.append(f"speed (1 thread, {s['resolution'][0]}x{s['resolution'][1]}): pipeline {s['pipeline_fps_excl_decode']:.0f} fps "
                 f"excl decode, {s['pipeline_fps_incl_decode']:.0f} fps incl decode; latency p50 {s['latency_ms_p50']:.1f} ms, "
                 f"p99 {s['latency_ms_p99']:.1f} ms; per model alone: "
                 + ", ".join(f"{k} {v:.0f} fps" for k, v in s["model_fps"].items()))
    if s.get("reference_ms"):
        lines.append("machine reference (one full-frame DIS flow, FAST preset, one thread; median of "
                     f"{s.get('reference_timings', '?')} timings, {REFERENCE_REPEATS} after each test clip): "
                     f"{s['reference_ms']:.2f} ms; pipeline latency "
                     f"p50 = {s['latency_ms_p50'] / s['reference_ms']:.2f}, p99 = {s['latency_ms_p99'] / s['reference_ms']:.2f} "
                     "of it (compare runs by these)")
    lines.append(f"peak memory: agent process {_fmt(s.get('agent_peak_rss_mb'))} MB RSS "
                 f"(bundle + {s.get('agent_frames', 0)} frames "
                 f"read from disk, {_fmt(s.get('agent_fps_incl_decode'))} fps there); whole bench {s['peak_rss_mb']:.0f} MB; "
                 f"train {res['train']['seconds']:.0f} s (validation {_fmt(res['train']['validation_seconds'])} s, "
                 f"final fit {_fmt(res['train'].get('fit_seconds'))} s); "
                 f"bench {res['bench_seconds']:.0f} s")
    if s.get("agent_error"):
        lines.append(f"the agent-process measurement failed: {s['agent_error']}")
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if k != "per_clip"}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        res = run(args, lambda msg: print(msg, file=sys.stderr))
    except EdgeError as err:
        print(f"vad-edge bench: {err}", file=sys.stderr)
        return 2
    (args.out / "results.json").write_text(json.dumps(_jsonable(res), indent=2), encoding="utf-8")
    print(format_table(res))
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
