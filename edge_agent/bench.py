"""Benchmark on real footage laid out like UCSD Ped2 (``python -m edge_agent.bench`` / ``vad-edge bench``).

    python -m edge_agent.bench --dataset ../shared/data/ucsd_ped2 --out bench-out

Dataset layout: ``training/frames/<clip>/*.jpg|png`` (normal only), ``testing/frames/<clip>/...``
and ``test_frame_labels.json`` (``{"clips": {"<clip>": "0011..."}}``, one character per frame in
sorted file order, ``1`` = anomalous).

What it does, all causal (each score uses that frame and earlier ones only, no per-video
normalisation) and with fixed seeds:

1. splits the training clips into *fit* clips, *calibration* clips (held out of fitting by
   ``vad-edge train``'s own rule) and *normal evaluation* clips (every 5th clip from the 3rd; never
   seen by fitting or calibration; false alerts per hour are measured on them);
2. fits the camera's default ensemble (flow, objects, autoencoder) into a model bundle with
   ``edge_agent.training.fit.fit_bundle`` (training time reported);
3. runs the real pipeline (preprocess -> models -> calibrate -> EMA -> k-of-n) over every test
   clip single-threaded, timing each frame (JPEG decode excluded and, separately, included);
4. reports, per model and for the ensemble - the fused score (weighted mean of calibrated scores)
   and the k-of-n consensus gate (the score at which the weighted vote reaches k) separately -
   micro AUC (headline), macro AUC (mean over clips holding both classes), AP, EER, for the EMA
   window ``--smooth-s`` and for 0 s and 3 s as labelled extras; event metrics (share of ground
   truth intervals caught, median detection delay, false alerts per hour on the normal evaluation
   clips) at the operating threshold; speed per model and for the pipeline; per-clip plots.

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
from edge_agent.config import CameraConfig
from edge_agent.errors import EdgeError, SourceError
from edge_agent.models.base import Frame
from edge_agent.models.flow import COARSE_SCALES, PRESETS, clear_cache
from edge_agent.pipeline.consensus import KofN
from edge_agent.pipeline.pipeline import Pipeline, fuse
from edge_agent.pipeline.preprocess import Preprocess
from edge_agent.pipeline.smoothing import Ema
from edge_agent.pipeline.sources import IMAGE_SUFFIXES, RawFrame

DEFAULT_DATASET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ucsd_ped2"
LABELS_FILE = "test_frame_labels.json"
EXTRA_WINDOWS = (0.0, 3.0)


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


def read_clip(folder: Path, fps: float, max_frames: int | None) -> Clip:
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
        frames.append(img)
    if not frames:
        raise SourceError(f"clip folder {folder} holds no images ({sorted(IMAGE_SUFFIXES)})")
    return Clip(folder.name, frames, decode, fps=fps)


def read_split(root: Path, split: str, fps: float, limit: int | None, max_frames: int | None) -> list[Clip]:
    folder = root / split / "frames"
    if not folder.is_dir():
        raise SourceError(f"dataset {root} has no {split}/frames folder (expected the UCSD Ped2 layout)")
    names = sorted(d for d in folder.iterdir() if d.is_dir())
    if not names:
        raise SourceError(f"{folder} holds no clip folders")
    return [read_clip(d, fps, max_frames) for d in names[:limit]]


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


def split_normal(clips: Sequence[Clip]) -> tuple[list[Clip], list[Clip]]:
    """(clips for ``fit_bundle``, normal evaluation clips): every 5th clip from the 3rd, with 6+ clips."""
    if len(clips) < 6:
        return list(clips), []
    held = set(range(2, len(clips), 5))
    return [c for i, c in enumerate(clips) if i not in held], [c for i, c in enumerate(clips) if i in held]


# ---------------------------------------------------------------- scoring
@dataclass
class ClipRun:
    """Per-frame records of one clip through the pipeline."""

    name: str
    ts: np.ndarray
    calibrated: dict[str, np.ndarray]  # unsmoothed calibrated score per voting model
    latency_s: np.ndarray
    labels: np.ndarray | None
    live_fused: np.ndarray = field(default_factory=lambda: np.zeros(0))


def run_clip(pipeline: Pipeline, clip: Clip) -> ClipRun:
    pipeline.reset()
    names = list(pipeline.weights)
    cals = {m.name: m.calibrator for m in pipeline.members if m.name in pipeline.weights}
    values: dict[str, list[float]] = {n: [] for n in names}
    latency, fused = [], []
    for raw in clip.raw_frames():
        t0 = time.perf_counter()
        pipeline.process_frame(raw)
        latency.append(time.perf_counter() - t0)
        snap = pipeline.last_snapshot
        assert snap is not None
        fused.append(snap.fused)
        for n in names:
            cal = cals[n]
            r = snap.raw[n].raw
            values[n].append(cal(r) if cal is not None else float(r))
    return ClipRun(clip.name, clip.ts, {n: np.nan_to_num(np.asarray(v)) for n, v in values.items()},
                   np.asarray(latency), clip.labels, np.asarray(fused))


def smooth(run: ClipRun, window_s: float) -> dict[str, np.ndarray]:
    ema = Ema(window_s)
    names = list(run.calibrated)
    out: dict[str, list[float]] = {n: [] for n in names}
    for i, t in enumerate(run.ts):
        s = ema(float(t), {n: float(run.calibrated[n][i]) for n in names})
        for n in names:
            out[n].append(s[n])
    return {n: np.asarray(v) for n, v in out.items()}


def gate_score(scores: dict[str, np.ndarray], weights: dict[str, float], k: float) -> np.ndarray:
    """Per frame, the highest threshold at which the weighted k-of-n vote passes."""
    names = list(weights)
    mat = np.stack([scores[n] for n in names], 1)
    w = np.array([weights[n] for n in names])
    order = np.argsort(-mat, axis=1, kind="stable")
    cum = np.cumsum(w[order], axis=1)
    first = np.argmax(cum >= k - 1e-9, axis=1)
    reached = cum[np.arange(len(mat)), first] >= k - 1e-9
    sorted_scores = np.take_along_axis(mat, order, axis=1)
    return np.where(reached, sorted_scores[np.arange(len(mat)), first], -np.inf)


def ensemble_scores(scores: dict[str, np.ndarray], weights: dict[str, float], k: float) -> dict[str, np.ndarray]:
    n = len(next(iter(scores.values())))
    fused = np.array([fuse({m: float(scores[m][i]) for m in weights}, weights) for i in range(n)])
    return {"ensemble_fused": fused, "ensemble_gate": gate_score(scores, weights, k)}


# ---------------------------------------------------------------- metrics
def frame_metrics(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> dict[str, float | int]:
    y, s = np.concatenate(labels), np.concatenate(scores)
    s = np.where(np.isfinite(s), s, np.nanmin(np.where(np.isfinite(s), s, np.nan)) - 1.0)
    macro, n = M.macro_auc(labels, [np.where(np.isfinite(x), x, s.min()) for x in scores])
    return {"micro_auc": M.roc_auc(y, s), "macro_auc": macro, "macro_auc_clips": n, "ap": M.average_precision(y, s),
            "eer": M.equal_error_rate(y, s)}


def alerts_fused(fused: np.ndarray, ts: np.ndarray, camera: CameraConfig) -> np.ndarray:
    gate = KofN(camera.consensus, {"fused": 1.0}, camera.timezone)
    gate.k = 1.0
    return np.array([gate(float(t), {"fused": float(v)}).is_open for t, v in zip(ts, fused, strict=True)])


def alerts_gate(scores: dict[str, np.ndarray], ts: np.ndarray, camera: CameraConfig, weights: dict[str, float]
                ) -> np.ndarray:
    gate = KofN(camera.consensus, weights, camera.timezone)
    return np.array([gate(float(t), {n: float(scores[n][i]) for n in weights}).is_open for i, t in enumerate(ts)])


def event_metrics(test: Sequence[tuple[ClipRun, np.ndarray]], normal: Sequence[tuple[ClipRun, np.ndarray]]
                  ) -> dict[str, Any]:
    stats = M.merge_event_stats([M.event_stats(r.labels, a, r.ts) for r, a in test if r.labels is not None])
    hours = sum(len(r.ts) * _dt(normal) for r, _ in normal) / 3600.0
    false_normal = sum(len(M.intervals(a)) for _, a in normal)
    return {"gt_intervals": stats.gt_events, "caught_share": stats.caught_share, "median_delay_s": stats.median_delay_s,
            "test_alerts": stats.alerts, "test_false_alerts": stats.false_alerts,
            "normal_eval_hours": hours if normal else None, "normal_eval_alerts": false_normal if normal else None,
            "false_alerts_per_hour": (false_normal / hours) if normal and hours > 0 else None}


def _dt(runs: Sequence[tuple[ClipRun, np.ndarray]]) -> float:
    for r, _ in runs:
        if len(r.ts) > 1:
            return float(r.ts[1] - r.ts[0])
    return 0.1


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

    cv2.setNumThreads(1)
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
    p.add_argument("--smooth-s", type=float, default=0.3, help="EMA window in seconds for the headline figures")
    p.add_argument("--weights", default="flow=1,objects=1,autoencoder=1", help="ensemble weights name=w,...")
    p.add_argument("--k", type=float, default=None, help="weighted votes for the k-of-n gate (default: min(2, n))")
    p.add_argument("--threshold", type=float, default=1.0, help="calibrated vote / alert threshold")
    p.add_argument("--train-clips", type=int, default=None, help="use only the first N training clips")
    p.add_argument("--test-clips", type=int, default=None, help="use only the first N test clips")
    p.add_argument("--max-frames", type=int, default=None, help="use only the first N frames of each clip")
    p.add_argument("--speed-frames", type=int, default=300, help="frames timed per model alone")
    p.add_argument("--epochs", type=int, default=6, help="autoencoder training epochs")
    p.add_argument("--coarse-preset", default="fast", choices=sorted(PRESETS),
                   help="DIS preset of the motion front end's half-resolution pass (all three models)")
    p.add_argument("--coarse-scale", type=int, default=0, choices=list(COARSE_SCALES),
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
        if not sep or name not in ("flow", "objects", "autoencoder") or not w > 0:
            raise EdgeError(f"--weights entry {part!r} must be name=w with w > 0 and name in [autoencoder, flow, objects]")
        out[name] = w
    if not out:
        raise EdgeError(f"--weights {text!r} names no model")
    return out


def bench_camera(args: argparse.Namespace, weights: dict[str, float]) -> CameraConfig:
    common = {"coarse_preset": args.coarse_preset, "coarse_scale": args.coarse_scale}
    models = [{"type": n, "weight": w, "params": {**common, "epochs": args.epochs} if n == "autoencoder" else common}
              for n, w in weights.items()]
    consensus: dict[str, Any] = {"threshold": args.threshold}
    if args.k is not None:
        consensus["k"] = args.k
    return CameraConfig.model_validate({"id": "bench", "source": str(args.dataset), "fps": args.fps, "scene": "outdoor",
                                        "models": models, "smoothing": {"window_s": args.smooth_s},
                                        "consensus": consensus})


def to_frames(camera: CameraConfig, clips: Sequence[Clip]) -> list[list[Frame]]:
    pre = Preprocess(camera)
    return [[pre(r) for r in c.raw_frames()] for c in clips]


def fit(camera: CameraConfig, clips: Sequence[Clip], out: Path) -> tuple[Path, float, dict[str, Any]]:
    from tqdm import tqdm

    from edge_agent.training.fit import fit_bundle, total_work

    frames = to_frames(camera, clips)
    t0 = time.perf_counter()
    with tqdm(total=total_work(camera, frames), desc="fit", unit="frame", file=sys.stderr, mininterval=2.0) as bar:
        bundle = fit_bundle(camera, frames, out / "bundle", progress=bar.update)
    seconds = time.perf_counter() - t0
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return bundle, seconds, manifest.get("training", {})


def score_clips(pipeline: Pipeline, clips: Sequence[Clip], desc: str) -> list[ClipRun]:
    from tqdm import tqdm

    runs = []
    with tqdm(total=sum(len(c.frames) for c in clips), desc=desc, unit="frame", file=sys.stderr, mininterval=2.0) as bar:
        for c in clips:
            runs.append(run_clip(pipeline, c))
            bar.update(len(c.frames))
    return runs


def accuracy(runs: Sequence[ClipRun], weights: dict[str, float], k: float, window: float
             ) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    per_clip = []
    for r in runs:
        s = smooth(r, window)
        per_clip.append({**s, **ensemble_scores(s, weights, k)})
    labels = [r.labels for r in runs if r.labels is not None]
    keys = list(per_clip[0]) if per_clip else []
    return {key: frame_metrics(labels, [pc[key] for pc in per_clip]) for key in keys}, per_clip


def evaluate(camera: CameraConfig, pipeline: Pipeline, test_runs: list[ClipRun], normal_runs: list[ClipRun],
             window: float) -> dict[str, Any]:
    weights, k = pipeline.weights, pipeline.consensus.k
    table, per_clip = accuracy(test_runs, weights, k, window)
    normal_scores = [smooth(r, window) for r in normal_runs]
    normal_fused = [ensemble_scores(s, weights, k)["ensemble_fused"] for s in normal_scores]
    table["ensemble_fused"]["events"] = event_metrics(
        [(r, alerts_fused(pc["ensemble_fused"], r.ts, camera)) for r, pc in zip(test_runs, per_clip, strict=True)],
        [(r, alerts_fused(f, r.ts, camera)) for r, f in zip(normal_runs, normal_fused, strict=True)])
    table["ensemble_gate"]["events"] = event_metrics(
        [(r, alerts_gate(pc, r.ts, camera, weights)) for r, pc in zip(test_runs, per_clip, strict=True)],
        [(r, alerts_gate(s, r.ts, camera, weights)) for r, s in zip(normal_runs, normal_scores, strict=True)])
    return {"window_s": window, "metrics": table, "per_clip": per_clip}


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    from edge_agent.pipeline.build import build_pipeline

    cv2.setNumThreads(1)
    started = time.perf_counter()
    weights = parse_weights(args.weights)
    camera = bench_camera(args, weights)
    train = read_split(args.dataset, "training", args.fps, args.train_clips, args.max_frames)
    test = read_split(args.dataset, "testing", args.fps, args.test_clips, args.max_frames)
    attach_labels(args.dataset, test)
    fit_clips, normal_clips = split_normal(train)
    log(f"dataset {args.dataset}: {len(train)} training clips ({len(fit_clips)} for fit+calibration, "
        f"{len(normal_clips)} normal evaluation), {len(test)} test clips")
    args.out.mkdir(parents=True, exist_ok=True)
    bundle, train_s, training = fit(camera, fit_clips, args.out)
    pipeline = build_pipeline(camera, bundle=bundle)
    test_runs = score_clips(pipeline, test, "test")
    normal_runs = score_clips(pipeline, normal_clips, "normal-eval") if normal_clips else []
    head = evaluate(camera, pipeline, test_runs, normal_runs, args.smooth_s)
    extras = {f"{w:g}s": evaluate(camera, pipeline, test_runs, normal_runs, w)["metrics"]
              for w in EXTRA_WINDOWS if w != args.smooth_s}
    speed_frames = to_frames(camera, test[:1])[0][: args.speed_frames]
    speed = {**speed_summary(test_runs, test), "model_fps": model_speed(pipeline, speed_frames),
             "threads": 1, "resolution": list(camera.resize), "peak_rss_mb": peak_memory_mb(),
             **measure_footprint(camera, bundle, args.dataset / "testing" / "frames" / test[0].name, args.speed_frames)}
    save_scores(args.out / "scores.npz", test_runs, normal_runs)
    if not args.no_plots:
        write_plots(args.out / "plots", camera, pipeline, test_runs, head["per_clip"])
    return {"dataset": str(args.dataset), "window_s": args.smooth_s, "weights": weights, "k": pipeline.consensus.k,
            "threshold": args.threshold, "metrics": head["metrics"], "extra_windows": extras,
            "train": {"seconds": train_s, **training, "threads": "opencv 1, torch 2"},
            "speed": speed, "clips": {"fit_and_calibration": [c.name for c in fit_clips],
                                      "normal_eval": [c.name for c in normal_clips], "test": [c.name for c in test]},
            "bench_seconds": time.perf_counter() - started}


def save_scores(path: Path, test_runs: Sequence[ClipRun], normal_runs: Sequence[ClipRun]) -> None:
    """Unsmoothed calibrated per-frame scores (and labels) for offline analysis."""
    arrays: dict[str, np.ndarray] = {}
    for kind, runs in (("test", test_runs), ("normal", normal_runs)):
        for r in runs:
            for name, v in r.calibrated.items():
                arrays[f"{kind}/{r.name}/{name}"] = v
            if r.labels is not None:
                arrays[f"{kind}/{r.name}/labels"] = r.labels
            arrays[f"{kind}/{r.name}/latency_s"] = r.latency_s
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def write_plots(folder: Path, camera: CameraConfig, pipeline: Pipeline, runs: Sequence[ClipRun],
                per_clip: Sequence[dict[str, np.ndarray]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for r, pc in zip(runs, per_clip, strict=True):
        shown = {k: v for k, v in pc.items() if k != "ensemble_gate"}
        plot_clip(folder / f"{r.name}.png", r, shown, camera.consensus.threshold, alerts_gate(pc, r.ts, camera, pipeline.weights))


# ---------------------------------------------------------------- report
def _fmt(x: Any, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.1f}" if pct else (f"{x:.2f}" if isinstance(x, float) else str(x))


def format_table(res: dict[str, Any]) -> str:
    lines = [f"accuracy (causal, EMA window {res['window_s']:g} s; AUC/AP/EER in %):",
             f"{'score':<18}{'microAUC':>9}{'macroAUC':>9}{'AP':>7}{'EER':>7}"
             + "".join(f"{'AUC@' + w:>10}" for w in res["extra_windows"])]
    for name, m in res["metrics"].items():
        extra = "".join(f"{_fmt(res['extra_windows'][w][name]['micro_auc'], True):>10}" for w in res["extra_windows"])
        lines.append(f"{name:<18}{_fmt(m['micro_auc'], True):>9}{_fmt(m['macro_auc'], True):>9}{_fmt(m['ap'], True):>7}"
                     f"{_fmt(m['eer'], True):>7}{extra}")
    lines.append(f"events at threshold {res['threshold']:g} (k={res['k']:g} of {len(res['weights'])}):")
    for name in ("ensemble_fused", "ensemble_gate"):
        e = res["metrics"][name]["events"]
        lines.append(f"  {name:<16} caught {e['caught_share'] * 100 if e['gt_intervals'] else float('nan'):.0f}% of "
                     f"{e['gt_intervals']} GT intervals, median delay {_fmt(e['median_delay_s'])} s, "
                     f"false alerts/h on normal clips {_fmt(e['false_alerts_per_hour'])} "
                     f"({_fmt(e['normal_eval_alerts'])} in {_fmt(e['normal_eval_hours'] and e['normal_eval_hours'] * 3600)} s)")
    s = res["speed"]
    lines.append(f"speed (1 thread, {s['resolution'][0]}x{s['resolution'][1]}): pipeline {s['pipeline_fps_excl_decode']:.0f} fps "
                 f"excl decode, {s['pipeline_fps_incl_decode']:.0f} fps incl decode; latency p50 {s['latency_ms_p50']:.1f} ms, "
                 f"p99 {s['latency_ms_p99']:.1f} ms; per model alone: "
                 + ", ".join(f"{k} {v:.0f} fps" for k, v in s["model_fps"].items()))
    lines.append(f"peak memory: agent process {_fmt(s.get('agent_peak_rss_mb'))} MB RSS "
                 f"(bundle + {s.get('agent_frames', 0)} frames "
                 f"read from disk, {_fmt(s.get('agent_fps_incl_decode'))} fps there); whole bench {s['peak_rss_mb']:.0f} MB; "
                 f"train {res['train']['seconds']:.0f} s; "
                 f"bench {res['bench_seconds']:.0f} s")
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
