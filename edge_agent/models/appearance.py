"""Appearance of moving objects (``type: appearance``): kNN distance of each object's look to the camera's normal objects.

The motion models judge how things move; this one judges what moving things look like. A cart, a
car or a bicycle on a footpath can move at walking pace, and then only its shape gives it away.

Per object of the motion front end (``models/flow.py``), a square crop centred on it, as wide as
``scale`` times the object height expected at its row (the camera's
:class:`~edge_agent.models.perspective.Perspective`, learned from its normal footage, so a
person fills the crop the same way near and far; at the frame's edge the square moves inside the
frame, off-centre, so it holds only real pixels), resized to ``crop`` x ``crop`` pixels and
described by its histogram of oriented gradients (OpenCV's HOG: 8-pixel cells, 16-pixel blocks,
9 orientations; illumination-normalised per block). ``fit`` keeps a fixed-seed sample of at most
``bank_size`` descriptors of normal objects. ``score``: each object's mean distance to its ``k``
nearest normal descriptors, averaged over the last ``track_s`` seconds of the object's track
(``ObjectTracker``: one frame's crop can catch a walker mid-stride or half an occluder), and the
frame's ``raw`` is the largest. It is trained on the camera's own footage and downloads nothing.
Evidence: that object's box and how long it has been tracked.

Until version 3 a crop past the edge took OpenCV's replicated border (``getRectSubPix``): the
frame's last row smeared over the rest of the square, which nothing normal looks like. On Ped2 the
two most unusual-looking objects of the cross-validated normal footage were such crops, people cut
by the bottom edge (calibrated 7.5 and 4.5; the next was 1.5; 2.3 and 2.1 with the crop inside), and
they set appearance's validation threshold at 6.6, where it caught no synthetic anomaly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent._compat import Self
from edge_agent.errors import ConfigError, NotFitted
from edge_agent.models.base import Capability, Evidence, Frame, ModelScore, ProgressFn, param
from edge_agent.models.flow import Candidate, front_params, iter_motion, resolve_box, saved_params
from edge_agent.models.objects import TrackedObjectsModel, nearest_distances, read_bank
from edge_agent.models.perspective import Perspective
from edge_agent.models.registry import register

BANK_FILE = "appearance_bank.npz"


def hog(crop: int) -> cv2.HOGDescriptor:
    return cv2.HOGDescriptor((crop, crop), (16, 16), (8, 8), (8, 8), 9)


@register
class AppearanceModel(TrackedObjectsModel):
    """HOG of each moving object, kNN against the camera's normal moving objects."""

    type_key = "appearance"
    version = "3"  # 2: the perspective is fitted on moving-region heights without the zeros of version 1;
    # 3: the crop is moved inside the frame at its border
    capabilities = frozenset({Capability.APPEARANCE, Capability.OBJECTS})
    default_k = 3
    default_bank_size = 4000

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.crop = param(params, "crop", 32)
        self.scale = param(params, "scale", 1.5, float)
        if self.crop < 16 or self.crop % 8:
            raise ConfigError(f"appearance crop must be >= 16 pixels and divisible by 8, got {self.crop}")
        if not 0.5 <= self.scale <= 4.0:
            raise ConfigError(f"appearance scale (crop side over expected object height) must be in [0.5, 4], got {self.scale}")
        self._hog = hog(self.crop)

    def describe_objects(self, frame: Frame, objects: Sequence[Candidate]) -> np.ndarray:
        """(N, D) float32 HOG descriptors of the crops around ``objects``."""
        assert self.perspective is not None
        h, w = frame.shape
        sides = self.perspective.height(np.array([c.y / h for c in objects])) * self.scale
        out = []
        for c, side in zip(objects, sides, strict=True):
            s = int(max(8, min(side, h, w)))
            half = (s - 1) / 2.0  # the crop stays inside the frame, off-centre at the border (module docstring)
            centre = (min(max(float(c.x), half), w - 1 - half), min(max(float(c.y), half), h - 1 - half))
            patch = cv2.getRectSubPix(frame.gray, (s, s), centre)
            patch = cv2.resize(patch, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
            out.append(self._hog.compute(patch).ravel())
        return np.asarray(out, np.float32)

    def fit(self, clips: Sequence[Iterable[Frame]], *, progress: ProgressFn | None = None) -> None:
        frames = [list(c) for c in clips]
        self._start(resolve_box(self.params, frames))
        assert self.front is not None
        rows, heights = [], []
        for frame, motion in iter_motion(self.front, frames, progress):
            for c in motion.candidates:
                rows.append(c.y / frame.shape[0])
                heights.append(c.h)
        if not rows:
            raise ConfigError("appearance: no moving objects in the normal footage; cannot learn what they look like "
                              "(check the ROI, or drop this model for a static scene)")
        self.perspective = Perspective.fit(np.array(rows), np.array(heights))
        descriptors = [self.describe_objects(frame, motion.candidates)
                       for frame, motion in iter_motion(self.front, frames) if motion.candidates]
        x = np.concatenate(descriptors)
        if len(x) > self.bank_size:
            x = x[np.random.default_rng(self.seed).choice(len(x), self.bank_size, replace=False)]
        self._keep(x)

    def score(self, frame: Frame) -> ModelScore:
        if self.front is None or self.tracker is None or self.bank is None or self.perspective is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted (or loaded from a bundle) before score()")
        motion = self.front(frame)
        objects = motion.candidates if motion is not None else ()
        if not objects:
            self.tracker.update(frame, (), np.zeros((0, 1), np.float32), self.front.s.gap)
            return ModelScore(raw=0.0)
        dist, _ = nearest_distances(self.describe_objects(frame, objects), self.bank, self.k, self._bank_sq)
        tracks = self.tracker.update(frame, objects, dist[:, None].astype(np.float32), self.front.s.gap)
        tracked = np.array([t.features()[0] for t in tracks])
        i = int(np.argmax(tracked))
        c = objects[i]
        return ModelScore(raw=float(tracked[i]), boxes=(c.box,), evidence=(
            Evidence("box", f"looks unlike the normal moving objects (HOG kNN distance over the last "
                            f"{len(tracks[i].history)} frames of its track)", float(tracked[i]),
                     tuple(float(v) for v in c.box)),))

    def save(self, directory: Path) -> dict[str, Any]:
        if self.bank is None or self.perspective is None or self.front is None:
            raise NotFitted(f"model {self.type_key!r} must be fitted before save()")
        with open(directory / BANK_FILE, "wb") as fh:
            np.savez(fh, bank=self.bank)
        return {**self.params, **front_params(self.front), "perspective": self.perspective.to_dict()}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        path = directory / BANK_FILE
        model = cls(**saved_params(params))
        model.perspective = Perspective.from_dict(params.get("perspective"), f"appearance params in {directory}")
        width = hog(model.crop).getDescriptorSize()
        model._keep(read_bank(path, ("bank",), width, model.box is not None, "appearance")["bank"])
        return model


__all__ = ["AppearanceModel"]
