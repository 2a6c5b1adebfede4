"""Object-level model (``type: objects``): kNN distance of moving objects to a bank of normal ones.

Objects are the motion front end's candidates (``models/flow.py``): the strongest moving regions
of the frame, each refined with full-resolution flow. Per object the features are its image row
(perspective: far objects are small and slow), speed, velocity (dx, dy), the height, width
and area of its moving region, and how rigidly it moves (``coherence`` and ``spread`` of its flow
vectors, see ``Candidate``): a bicycle ridden at walking speed is as fast as a walker but moves
as one piece, while a walker's limbs swing against the torso. ``fit`` standardises the features
of every object in the normal footage and keeps a bank of at most ``bank_size`` of them (a
fixed-seed subsample); ``score`` is the largest distance from any object of the frame to its ``k``
nearest normal objects.
Evidence: the object's box and the features that deviate most from its nearest normal object.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from edge_agent.errors import ConfigError, ModelFileError, NotFitted
from edge_agent.models.base import AnomalyModel, Capability, Evidence, Frame, ModelScore, ProgressFn
from edge_agent.models.flow import Candidate, MotionFrontEnd, iter_motion, motion_settings, resolve_box
from edge_agent.models.registry import register

BANK_FILE = "objects_bank.npz"
FEATURES = ("row", "speed", "dx", "dy", "height", "width", "area", "coherence", "spread")


def object_features(c: Candidate, shape: tuple[int, int]) -> np.ndarray:
    return np.array([c.y / shape[0], c.speed, c.dx, c.dy, c.h, c.w, np.sqrt(c.area), c.coherence, c.spread],
                    np.float32)


def nearest_distances(queries: np.ndarray, bank: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean Euclidean distance of each query to its ``k`` nearest bank rows, and the nearest row index."""
    d2 = (queries * queries).sum(1)[:, None] - 2.0 * queries @ bank.T + (bank * bank).sum(1)[None, :]
    d2 = np.maximum(d2, 0.0)
    k = min(k, bank.shape[0])
    part = np.partition(d2, k - 1, axis=1)[:, :k]
    return np.sqrt(part).mean(1), np.argmin(d2, axis=1)


@register
class ObjectsModel(AnomalyModel):
    """kNN over per-object motion/size features against the camera's normal objects."""

    type_key = "objects"
    version = "2"
    capabilities = frozenset({Capability.OBJECTS, Capability.MOTION})

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.k = int(params.get("k", 1))
        self.bank_size = int(params.get("bank_size", 5000))
        self.seed = int(params.get("seed", 0))
        if self.k < 1 or self.bank_size < self.k:
            raise ConfigError(f"objects needs k >= 1 and bank_size >= k, got k={self.k}, bank_size={self.bank_size}")
        self.box: int | None = int(params["box"]) if isinstance(params.get("box"), int) else None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.bank: np.ndarray | None = None  # standardised features
        self.front = MotionFrontEnd(motion_settings(params, self.box)) if self.box is not None else None

    def fit(self, clips: Sequence[Iterable[Frame]], *, progress: ProgressFn | None = None) -> None:
        frames = [list(c) for c in clips]
        self.box = resolve_box(self.params, frames)
        self.front = MotionFrontEnd(motion_settings(self.params, self.box))
        feats = [object_features(c, f.shape) for f, m in iter_motion(self.front, frames, progress) for c in m.candidates]
        if not feats:
            raise ConfigError("objects: no moving objects in the normal footage; cannot learn a bank "
                              "(check the ROI, or drop this model for a static scene)")
        x = np.stack(feats)
        self.mean = x.mean(0)
        self.std = x.std(0) + 1e-6
        z = (x - self.mean) / self.std
        if len(z) > self.bank_size:
            z = z[np.random.default_rng(self.seed).choice(len(z), self.bank_size, replace=False)]
        self.bank = z.astype(np.float32)

    def reset(self) -> None:
        if self.front is not None:
            self.front.reset()

    def score(self, frame: Frame) -> ModelScore:
        if self.front is None or self.bank is None or self.mean is None or self.std is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted (or loaded from a bundle) before score()")
        motion = self.front(frame)
        if motion is None or not motion.candidates:
            return ModelScore(raw=0.0)
        x = np.stack([object_features(c, frame.shape) for c in motion.candidates])
        z = ((x - self.mean) / self.std).astype(np.float32)
        dist, nearest = nearest_distances(z, self.bank, self.k)
        i = int(np.argmax(dist))
        c = motion.candidates[i]
        return ModelScore(raw=float(dist[i]), evidence=self._evidence(c, z[i], self.bank[nearest[i]], float(dist[i])),
                          boxes=(c.box,))

    def _evidence(self, c: Candidate, z: np.ndarray, near: np.ndarray, dist: float) -> tuple[Evidence, ...]:
        ev = [Evidence("box", "object kNN distance", dist, tuple(float(v) for v in c.box))]
        dev = np.abs(z - near)
        for j in np.argsort(-dev)[:2]:
            ev.append(Evidence("feature", f"{FEATURES[j]} off normal by {dev[j]:.1f} sd", float(dev[j])))
        return tuple(ev)

    def save(self, directory: Path) -> dict[str, Any]:
        if self.bank is None or self.mean is None or self.std is None or self.box is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted before save()")
        with open(directory / BANK_FILE, "wb") as fh:
            np.savez(fh, bank=self.bank, mean=self.mean, std=self.std)
        return {**self.params, "box": self.box}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        path = directory / BANK_FILE
        model = cls(**params)
        try:
            with np.load(path) as data:
                model.bank, model.mean, model.std = data["bank"], data["mean"], data["std"]
        except (OSError, ValueError, KeyError) as err:
            raise ModelFileError(f"objects bank {path} is unreadable: {err}") from err
        if model.bank.ndim != 2 or model.bank.shape[1] != len(FEATURES) or model.front is None:
            raise ModelFileError(f"objects bank {path} has shape {model.bank.shape}, expected (n, {len(FEATURES)}) "
                                 "and params with a fitted 'box'")
        return model


__all__ = ["FEATURES", "ObjectsModel", "nearest_distances", "object_features"]
