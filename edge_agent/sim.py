"""Synthetic scene renderer with per-frame ground truth (``python -m edge_agent.sim``).

A textured walkway with pedestrians walking left/right (normal). Anomalies are scheduled after a
warm-up: fast objects (a cart/bike crossing at 5x walking speed), loiterers (someone standing in
the ``bench`` zone for several seconds) and zone intrusions (someone walking into the
``restricted`` zone at the top of the picture, where nobody normally goes). Deterministic by seed,
cheap numpy/OpenCV drawing at 360x240, gray or colour.

    python -m edge_agent.sim --out DIR --frames 600 --seed 1 [--normal] [--color] [--video clip.mp4]

writes ``DIR/000000.png ...`` and ``DIR/ground_truth.json`` ({"fps", "frames": [{"index", "ts",
"anomaly", "labels", "objects"}], "zones"}).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from edge_agent.config import Polygon, Zone

Kind = Literal["walker", "fast", "loiter", "intrusion"]
ANOMALY_KINDS: tuple[Kind, ...] = ("fast", "loiter", "intrusion")

RESTRICTED = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.28), (0.0, 0.28))
BENCH = ((0.44, 0.40), (0.56, 0.40), (0.56, 0.62), (0.44, 0.62))
WALKWAY = (0.42, 0.92)  # normal walkers keep their feet in this band of y


def sim_zones(loiter_s: float = 5.0) -> list[Zone]:
    """The zones the simulator's anomalies refer to, as camera-config zones."""
    return [
        Zone(name="restricted", polygon=Polygon(points=list(RESTRICTED)), intrusion=True),
        Zone(name="bench", polygon=Polygon(points=list(BENCH)), loiter_s=loiter_s),
    ]


@dataclass
class SimConfig:
    width: int = 360
    height: int = 240
    fps: float = 10.0
    seed: int = 0
    walkers: float = 3.0  # mean number of walkers on screen
    normal_only: bool = False
    kinds: tuple[Kind, ...] = ANOMALY_KINDS
    warmup_s: float = 8.0  # no anomaly before this
    gap_s: tuple[float, float] = (8.0, 14.0)  # quiet time between anomalies
    color: bool = False


@dataclass
class Actor:
    kind: Kind
    x: float
    y: float  # feet position, pixels
    vx: float
    vy: float
    w: int
    h: int
    shade: tuple[int, int, int]
    plan: list[tuple[float, float, float]] = field(default_factory=list)  # (until_s, vx, vy) legs
    phase: float = 0.0

    def box(self) -> tuple[int, int, int, int]:
        return int(self.x - self.w / 2), int(self.y - self.h), self.w, self.h


@dataclass(frozen=True)
class SimFrame:
    index: int
    ts: float
    image: np.ndarray
    anomaly: bool
    labels: tuple[str, ...]
    objects: tuple[dict[str, Any], ...]


def _inside(x: float, y: float, poly: Sequence[tuple[float, float]]) -> bool:
    xs = [p[0] for p in poly]
    ys = [p[1] for p in poly]
    return min(xs) <= x <= max(xs) and min(ys) <= y <= max(ys)  # sim zones are axis-aligned


class Scene:
    def __init__(self, cfg: SimConfig | None = None) -> None:
        self.cfg = cfg = cfg or SimConfig()
        self.rng = np.random.default_rng(cfg.seed)
        self.background = self._background()
        self.noise = [self.rng.normal(0, 2.0, self.background.shape[:2]).astype(np.int16) for _ in range(4)]
        self.actors: list[Actor] = []
        self.next_anomaly = cfg.warmup_s
        self.kind_cycle = 0

    def _background(self) -> np.ndarray:
        w, h = self.cfg.width, self.cfg.height
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = 150 + 40 * np.sin(xx / 37.0) * np.cos(yy / 53.0) + 30 * (yy / h)
        base += self.rng.normal(0, 6, (h, w)).astype(np.float32)
        img = np.clip(base, 0, 255).astype(np.uint8)
        for x in range(0, w, 45):  # paving lines
            cv2.line(img, (x, int(0.35 * h)), (x + 20, h), 120, 1)
        cv2.rectangle(img, (int(0.42 * w), int(0.5 * h)), (int(0.58 * w), int(0.56 * h)), 90, -1)  # bench
        bgr = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if self.cfg.color:
            bgr[: int(0.28 * h)] = (bgr[: int(0.28 * h)] * np.array([0.7, 0.9, 1.0])).astype(np.uint8)
        return bgr

    # ------------------------------------------------------------ actors
    def _walker(self, kind: Kind = "walker") -> Actor:
        w, h, rng = self.cfg.width, self.cfg.height, self.rng
        left = bool(rng.random() < 0.5)
        speed = float(rng.uniform(10, 18)) / self.cfg.fps  # 10..18 px/s
        y = float(rng.uniform(*WALKWAY) * h)
        shade = tuple(int(v) for v in rng.integers(20, 90, 3)) if self.cfg.color else (int(rng.integers(20, 90)),) * 3
        return Actor(kind, -10.0 if left else w + 10.0, y, speed if left else -speed, float(rng.normal(0, 0.05)),
                     int(rng.integers(9, 13)), int(rng.integers(24, 32)), shade)  # type: ignore[arg-type]

    def _spawn_anomaly(self, t: float) -> None:
        kind = self.cfg.kinds[self.kind_cycle % len(self.cfg.kinds)]
        self.kind_cycle += 1
        w, h, fps = self.cfg.width, self.cfg.height, self.cfg.fps
        a = self._walker(kind)
        if kind == "fast":
            a.w, a.h, a.shade = 26, 18, (230, 230, 230)
            a.vx = math.copysign(float(self.rng.uniform(70, 95)) / fps, a.vx)
            a.vy = 0.0
        elif kind == "loiter":  # walk to the bench, stand, walk on
            bx, by = (BENCH[0][0] + BENCH[1][0]) / 2 * w, (BENCH[0][1] + BENCH[2][1]) / 2 * h
            a.x, a.y = -10.0, by
            speed = 15.0 / fps
            arrive = t + (bx + 10) / (speed * fps)
            stay = float(self.rng.uniform(7, 10))
            a.vx, a.vy = speed, 0.0
            a.plan = [(arrive, speed, 0.0), (arrive + stay, 0.0, 0.0), (1e9, speed, 0.0)]
        elif kind == "intrusion":  # come up from the walkway into the restricted zone, then back
            a.x = float(self.rng.uniform(0.2, 0.8) * w)
            a.y = h + 30.0
            a.vx = 0.0
            speed = 16.0 / fps
            a.vy = -speed
            up = (h + 30 - 0.18 * h) / (speed * fps)
            a.plan = [(t + up, 0.0, -speed), (t + up + 3.0, 0.0, 0.0), (1e9, 0.0, speed)]
        self.actors.append(a)
        self.next_anomaly = t + float(self.rng.uniform(*self.cfg.gap_s)) + 6.0

    def _step(self, t: float) -> None:
        fps = self.cfg.fps
        if self.rng.random() < self.cfg.walkers / (25.0 * fps) * 1.0 or not any(a.kind == "walker" for a in self.actors):
            self.actors.append(self._walker())
        if not self.cfg.normal_only and t >= self.next_anomaly and not any(a.kind != "walker" for a in self.actors):
            self._spawn_anomaly(t)
        for a in self.actors:
            while a.plan and t >= a.plan[0][0]:
                a.plan.pop(0)
            if a.plan:
                a.vx, a.vy = a.plan[0][1], a.plan[0][2]
            a.x += a.vx
            a.y += a.vy
            a.phase += abs(a.vx) + abs(a.vy)
        w, h = self.cfg.width, self.cfg.height
        self.actors = [a for a in self.actors if -40 < a.x < w + 40 and -10 < a.y < h + 60]

    # ------------------------------------------------------------ drawing + truth
    def _draw(self, img: np.ndarray, a: Actor) -> None:
        x, y, w, h = a.box()
        if a.kind == "fast":
            cv2.rectangle(img, (x, y), (x + w, y + h), a.shade, -1)
            cv2.circle(img, (x + 5, y + h), 4, (30, 30, 30), -1)
            cv2.circle(img, (x + w - 5, y + h), 4, (30, 30, 30), -1)
            return
        cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 3), 0, 0, 360, a.shade, -1)
        cv2.circle(img, (x + w // 2, y + 3), max(2, w // 3), a.shade, -1)
        swing = int(3 * math.sin(a.phase / 4.0))
        cv2.line(img, (x + w // 2, y + 2 * h // 3), (x + w // 2 - swing, y + h), a.shade, 2)
        cv2.line(img, (x + w // 2, y + 2 * h // 3), (x + w // 2 + swing, y + h), a.shade, 2)

    def _labels(self, t: float) -> list[str]:
        w, h = self.cfg.width, self.cfg.height
        out = []
        for a in self.actors:
            x, y = a.x / w, a.y / h
            if a.kind == "fast" and -0.02 < x < 1.02:
                out.append("fast")
            elif a.kind == "loiter" and _inside(x, y, BENCH) and a.vx == 0 and a.vy == 0:
                out.append("loiter")
            elif a.kind == "intrusion" and _inside(x, y, RESTRICTED):
                out.append("intrusion")
        return out

    def frames(self, n: int) -> Iterator[SimFrame]:
        for i in range(n):
            t = i / self.cfg.fps
            self._step(t)
            img = self.background.copy()
            for a in sorted(self.actors, key=lambda a: a.y):
                self._draw(img, a)
            noisy = np.clip(img.astype(np.int16) + self.noise[i % len(self.noise)][..., None], 0, 255).astype(np.uint8)
            image = noisy if self.cfg.color else cv2.cvtColor(noisy, cv2.COLOR_BGR2GRAY)
            labels = self._labels(t)
            objects = tuple({"kind": a.kind, "box": list(a.box())} for a in self.actors)
            yield SimFrame(i, t, image, bool(labels), tuple(labels), objects)


def render(n: int, seed: int = 0, **kwargs: Any) -> list[SimFrame]:
    """``n`` frames of a scene (see :class:`SimConfig` for keyword options)."""
    return list(Scene(SimConfig(seed=seed, **kwargs)).frames(n))


def write_folder(out: Path, frames: Sequence[SimFrame], fps: float = 10.0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for f in frames:
        cv2.imwrite(str(out / f"{f.index:06d}.png"), f.image)
    truth = {"fps": fps, "zones": [z.model_dump(mode="json") for z in sim_zones()],
             "frames": [{"index": f.index, "ts": f.ts, "anomaly": f.anomaly, "labels": list(f.labels),
                         "objects": list(f.objects)} for f in frames]}
    (out / "ground_truth.json").write_text(json.dumps(truth), encoding="utf-8")
    return out


def write_video(path: Path, frames: Sequence[SimFrame], fps: float = 10.0) -> Path:
    h, w = frames[0].image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write video {path}")
    for f in frames:
        writer.write(f.image if f.image.ndim == 3 else cv2.cvtColor(f.image, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edge_agent.sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="folder for PNG frames + ground_truth.json")
    ap.add_argument("--video", type=Path, help="also/instead write an .mp4")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--normal", action="store_true", help="no anomalies (training footage)")
    ap.add_argument("--color", action="store_true")
    args = ap.parse_args(argv)
    if args.out is None and args.video is None:
        ap.error("give --out DIR and/or --video FILE")
    frames = render(args.frames, args.seed, fps=args.fps, normal_only=args.normal, color=args.color)
    if args.out:
        write_folder(args.out, frames, args.fps)
    if args.video:
        write_video(args.video, frames, args.fps)
    n_anom = sum(f.anomaly for f in frames)
    print(json.dumps({"frames": len(frames), "anomalous_frames": n_anom, "out": str(args.out or args.video)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
