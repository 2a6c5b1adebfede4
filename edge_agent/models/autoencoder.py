"""Patch autoencoder model (``type: autoencoder``): reconstruction error at moving objects, via onnxruntime.

Input per patch (``patch`` x ``patch`` at half resolution, stride ``patch / 2``, only where at
least a quarter of the patch moves): the gray patch normalised by its own mean and contrast, and
the two components of the motion front end's coarse flow (``models/flow.py``). So the network
learns what normal moving things look like *and* how they move (walking legs versus a rigid
bicycle). ``fit`` trains it with torch (``edge_agent.training.autoencoder``, imported only there)
and exports ONNX; scoring runs the ONNX model with onnxruntime and never imports torch.

Scoring looks where the front end found moving objects: each object's error is the mean error of
the moving patches that overlap its box by at least a quarter of their side, objects are tracked
over frames like the objects model does (``ObjectTracker``), and ``raw`` is the largest error
averaged over the last ``track_s`` seconds of an object's track (1 s by default). One frame's
error of one patch is noisy (a walker mid-stride, a texture edge); an object that looks wrong for
a second is not. Only the patches near objects go through the network. Evidence: that object's box.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent._compat import Self
from edge_agent.errors import ConfigError, ModelFileError, NotFitted
from edge_agent.models.base import AnomalyModel, Capability, Evidence, Frame, ModelScore, ProgressFn, param
from edge_agent.models.flow import (Candidate, MotionFrontEnd, check_motion_params, front_params, iter_motion, magnitude,
                                    motion_settings, resolve_box, saved_params)
from edge_agent.models.objects import ObjectTracker, track_seconds
from edge_agent.models.registry import register
from edge_agent.models.runtimes import check_input, onnx_session

ONNX_FILE = "autoencoder.onnx"
CHANNELS = 3
MOVING = 0.6  # px per gap: a pixel "moves" above this flow magnitude
FLOW_SCALE = 0.5  # flow channels are scaled by this before entering the network


def motion_patches(gray: np.ndarray, coarse: np.ndarray, patch: int = 16, min_moving: float = 0.25
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Patches (N, 3, P, P) float32 where enough pixels move, and their top-left corners (N, 2) at half resolution."""
    h, w = coarse.shape[:2]
    g = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    speed = magnitude(coarse)
    moving = cv2.boxFilter((speed > MOVING).astype(np.float32), -1, (patch, patch), anchor=(0, 0), normalize=True,
                           borderType=cv2.BORDER_CONSTANT)
    stride = patch // 2
    ys = np.arange(0, h - patch + 1, stride)
    xs = np.arange(0, w - patch + 1, stride)
    grid = moving[np.ix_(ys, xs)] >= min_moving
    corners = np.stack(np.nonzero(grid), 1) * stride if grid.any() else np.zeros((0, 2), np.int64)
    if len(corners) == 0:
        return np.zeros((0, CHANNELS, patch, patch), np.float32), corners
    stack = np.concatenate([g[..., None], coarse * FLOW_SCALE], axis=2)  # (h, w, 3)
    windows = np.lib.stride_tricks.sliding_window_view(stack, (patch, patch), axis=(0, 1))  # (h', w', 3, P, P)
    out = windows[corners[:, 0], corners[:, 1]].astype(np.float32)  # (N, 3, P, P)
    gp = out[:, 0]
    mean = gp.mean(axis=(1, 2), keepdims=True)
    std = gp.std(axis=(1, 2), keepdims=True)
    out[:, 0] = (gp - mean) / (std + 0.05)
    return np.ascontiguousarray(out), corners


@register
class AutoencoderModel(AnomalyModel):
    """Convolutional patch autoencoder on appearance + motion, run with onnxruntime."""

    type_key = "autoencoder"
    version = "2"  # 1: largest patch error of the frame; 2: error at tracked objects
    capabilities = frozenset({Capability.APPEARANCE, Capability.MOTION})

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.patch = param(params, "patch", 16)
        if self.patch < 8 or self.patch % 4:
            raise ConfigError(f"autoencoder patch must be >= 8 and divisible by 4, got {self.patch}")
        self.threads = param(params, "threads", 1)
        self.runtime = str(params.get("runtime", "cpu"))
        check_motion_params(params)
        self.track_s = track_seconds(params, "autoencoder")
        self.box: int | None = int(params["box"]) if isinstance(params.get("box"), int) else None
        self.front: MotionFrontEnd | None = None
        self.tracker: ObjectTracker | None = None
        if self.box is not None:
            self._start(self.box)
        self.session: Any = None
        self.onnx_bytes: bytes | None = None

    # -- fitting (torch, imported here only)
    def training_patches(self, clips: Sequence[Sequence[Frame]], progress: ProgressFn | None = None) -> np.ndarray:
        assert self.front is not None
        chunks = [motion_patches(f.gray, m.coarse, self.patch)[0] for f, m in iter_motion(self.front, clips, progress)]
        patches = np.concatenate(chunks) if chunks else np.zeros((0, CHANNELS, self.patch, self.patch), np.float32)
        cap = param(self.params, "max_patches", 40000)
        if len(patches) > cap:
            rng = np.random.default_rng(param(self.params, "seed", 0))
            patches = patches[np.sort(rng.choice(len(patches), cap, replace=False))]
        return patches

    def fit(self, clips: Sequence[Iterable[Frame]], *, progress: ProgressFn | None = None) -> None:
        from edge_agent.training.autoencoder import TrainSettings, export_onnx, train_autoencoder

        frames = [list(c) for c in clips]
        self._start(resolve_box(self.params, frames))
        patches = self.training_patches(frames, progress)
        settings = TrainSettings(epochs=param(self.params, "epochs", 6), latent=param(self.params, "latent", 32),
                                 seed=param(self.params, "seed", 0), threads=param(self.params, "train_threads", 2))
        net = train_autoencoder(patches, settings)
        self._use_onnx(export_onnx(net, CHANNELS, self.patch), "<trained in memory>")

    def _start(self, box: int) -> None:
        self.box = box
        self.front = MotionFrontEnd(motion_settings(self.params, box))
        self.tracker = ObjectTracker(max_dist=float(box), window_s=self.track_s)

    def _use_onnx(self, data: bytes, label: str) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="vad-ae-") as tmp:
            path = Path(tmp) / ONNX_FILE
            path.write_bytes(data)
            session = onnx_session(path, self.runtime, self.threads)  # type: ignore[arg-type]
        check_input(session, label, [None, CHANNELS, self.patch, self.patch])
        self.session, self.onnx_bytes = session, data

    # -- scoring (onnxruntime only)
    def reset(self) -> None:
        if self.front is not None:
            self.front.reset()
        if self.tracker is not None:
            self.tracker.reset()

    def reconstruction_errors(self, patches: np.ndarray) -> np.ndarray:
        recon = self.session.run(None, {self.session.get_inputs()[0].name: patches})[0]
        return np.asarray(((recon - patches) ** 2).mean(axis=(1, 2, 3)), np.float64)

    def object_errors(self, frame: Frame, coarse: np.ndarray, objects: Sequence[Candidate]) -> np.ndarray:
        """Per object, the mean reconstruction error of the moving patches overlapping its box (0 if none)."""
        assert self.box is not None
        patches, corners = motion_patches(frame.gray, coarse, self.patch)
        out = np.zeros(len(objects))
        if len(patches) == 0:
            return out
        scale = frame.shape[1] / coarse.shape[1]
        side = self.patch * scale  # patch side in full-resolution pixels
        centres = (corners + self.patch / 2) * scale  # (y, x)
        reach = self.box / 2 + side / 4  # centre distance at which a patch still overlaps the box by a quarter side
        near = [(np.abs(centres[:, 0] - c.y) <= reach) & (np.abs(centres[:, 1] - c.x) <= reach) for c in objects]
        used = np.any(near, axis=0)
        if not used.any():
            return out
        err = np.zeros(len(patches))
        err[used] = self.reconstruction_errors(np.ascontiguousarray(patches[used]))
        for i, mask in enumerate(near):
            if mask.any():
                out[i] = float(err[mask].mean())
        return out

    def score(self, frame: Frame) -> ModelScore:
        if self.front is None or self.tracker is None or self.session is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted (or loaded from a bundle) before score()")
        motion = self.front(frame)
        if motion is None:
            return ModelScore(raw=0.0)
        objects = motion.candidates
        err = self.object_errors(frame, motion.coarse, objects)
        tracks = self.tracker.update(frame, objects, err[:, None], self.front.s.gap)
        if not objects:
            return ModelScore(raw=0.0)
        tracked = np.array([float(t.features()[0]) for t in tracks])
        i = int(np.argmax(tracked))
        box = objects[i].box
        ev = (Evidence("box", f"patch reconstruction error over the last {len(tracks[i].history)} frames of its track",
                       float(tracked[i]), tuple(float(v) for v in box)),)
        return ModelScore(raw=float(tracked[i]), evidence=ev, boxes=(box,))

    # -- persistence
    def save(self, directory: Path) -> dict[str, Any]:
        if self.onnx_bytes is None or self.front is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted before save()")
        (directory / ONNX_FILE).write_bytes(self.onnx_bytes)
        return {**self.params, **front_params(self.front)}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        path = directory / ONNX_FILE
        model = cls(**saved_params(params))
        if model.front is None:
            raise ModelFileError(f"autoencoder params for {directory} lack the fitted 'box'")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ModelFileError(f"autoencoder weights {path} are unreadable: {err}") from err
        model._use_onnx(data, str(path))
        return model


__all__ = ["AutoencoderModel", "motion_patches"]
