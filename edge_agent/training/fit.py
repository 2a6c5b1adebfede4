"""Fit a camera's model bundle on normal footage: fit each model, calibrate it, write the bundle.

Normal clips are split into *fit* and *held-out* parts: with 3 or more clips every 5th clip
(counting from the last, at least one) is held out; otherwise the last 20% of each clip is. Each
model is fitted on the fit part, then scored causally on the held-out part (state reset per
clip), and its :class:`Calibrator` is fitted on those raw scores so that 1.0 means "as high as
this camera's normal footage gets" for every model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.config import CameraConfig, Policy
from edge_agent.errors import SourceError
from edge_agent.models.base import Frame
from edge_agent.models.bundle import write_bundle
from edge_agent.models.flow import motion_cache
from edge_agent.pipeline.build import fresh_members
from edge_agent.pipeline.calibrate import Calibrator
from edge_agent.pipeline.preprocess import Preprocess
from edge_agent.pipeline.sources import IMAGE_SUFFIXES, RawFrame, open_source

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from edge_agent.pipeline.pipeline import Member
    from edge_agent.pipeline.tuning import Tuning

DEFAULT_FOLDS = 3  # cross-validation folds of the training clips (validate.py): 4 fits in all, within 10 min for Ped2's 16 clips on 2 cores

Progress = Callable[[int], None]


def expand_clips(sources: Sequence[str]) -> list[str]:
    """A folder holding only sub-folders (like Ped2's ``training/frames``) means one clip per sub-folder."""
    out: list[str] = []
    for spec in sources:
        p = Path(spec)
        subdirs = sorted(d for d in p.iterdir() if d.is_dir()) if p.is_dir() else []
        has_images = p.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir())
        if subdirs and not has_images:
            out.extend(str(d) for d in subdirs)
        else:
            out.append(spec)
    return out


def read_clips(camera: CameraConfig, sources: Sequence[str]) -> list[list[Frame]]:
    """Preprocess every frame of every source (ROI/privacy masks applied, as at run time)."""
    pre = Preprocess(camera)
    clips = []
    for spec in expand_clips(sources):
        src = open_source(spec, fps=camera.fps, reconnect=camera.reconnect.model_copy(update={"max_attempts": 0}))
        clips.append([pre(item) for item in src if isinstance(item, RawFrame)])
    return clips


def split_holdout(clips: Sequence[Sequence[Frame]], share: float = 0.2) -> tuple[list[list[Frame]], list[list[Frame]]]:
    if len(clips) >= 3:
        held = set(range(len(clips) - 1, -1, -5))
        return ([list(c) for i, c in enumerate(clips) if i not in held], [list(c) for i, c in enumerate(clips) if i in held])
    fit, held_out = [], []
    for c in clips:
        if len(c) < 2:
            continue
        cut = min(len(c) - 1, max(1, int(round(len(c) * (1.0 - share)))))
        fit.append(list(c[:cut]))
        if c[cut:]:
            held_out.append(list(c[cut:]))
    return fit, held_out


def fit_members(camera: CameraConfig, clips: Sequence[Sequence[Frame]], *, policy: Policy | None = None,
                progress: Progress | None = None) -> tuple[list[Member], dict[str, Any]]:
    """Fit and calibrate every model of ``camera`` (policy-checked) on normal ``clips``."""
    members = fresh_members(camera, policy)
    fit_part, held = split_holdout(clips)
    if not held or not any(fit_part):
        frames = sum(map(len, clips))
        raise SourceError(f"camera {camera.id!r}: {frames} normal frames in {len(clips)} clips is too little footage; "
                          "need at least 2 frames per clip (or 3 clips) to hold some out for calibration")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with motion_cache(sum(map(len, clips)) + 16):
        for m in members:
            _fit_one(camera, m, fit_part, held, progress, timings)
    training = {"fit_frames": sum(map(len, fit_part)), "holdout_frames": sum(map(len, held)), "clips": len(clips),
                "seconds": round(time.perf_counter() - started, 3), "model_seconds": timings}
    return members, training


def _fit_one(camera: CameraConfig, m: Member, fit_part: list[list[Frame]], held: list[list[Frame]],
             progress: Progress | None, timings: dict[str, float]) -> None:
    """Fit one model on ``fit_part`` and calibrate it on its raw scores over ``held``."""
    t0 = time.perf_counter()
    reported = [0]

    def fit_progress(n: int, _seen: list[int] = reported) -> None:
        _seen[0] += n
        if progress:
            progress(n)

    m.model.fit(fit_part, progress=fit_progress)
    if progress and (rest := sum(map(len, fit_part)) - reported[0]) > 0:
        progress(rest)  # models that learn nothing (or report coarsely) still complete the bar
    raw = []
    for clip in held:
        m.model.reset()
        for frame in clip:
            raw.append(m.model.score(frame).raw)
            if progress:
                progress(1)
    m.model.reset()
    m.calibrator = Calibrator.fit(np.asarray(raw, np.float64)) if m.model.votes else None
    timings[m.name] = round(time.perf_counter() - t0, 3)
    log.info("model fitted", extra={"camera_id": camera.id, "model": m.name, "seconds": timings[m.name]})


def fit_bundle(camera: CameraConfig, clips: Sequence[Sequence[Frame]], out: Path, *, policy: Policy | None = None,
               progress: Progress | None = None, validate: bool = True, folds: int = DEFAULT_FOLDS,
               tuning: Tuning | None = None) -> Path:
    """Fit, calibrate and save every model of ``camera`` into bundle ``out``.

    With ``validate`` (the default, and what ``vad-edge train`` does) the camera's own footage
    also chooses its smoothing, ensemble weights, k and threshold first
    (:mod:`edge_agent.training.validate`: ``folds``-fold cross-validation with synthetic
    anomalies); the choice and its validation figures go into the bundle's ``tuning``. A ``tuning``
    passed in (from a validation already run) is stored as it is."""
    skipped = None
    with motion_cache(sum(map(len, clips)) + 16):  # validation's folds and the final fit share each frame's flow
        if tuning is None and validate:
            from edge_agent.training.validate import tune_camera

            try:
                tuning = tune_camera(camera, clips, policy=policy, folds=folds, progress=progress).tuning
            except SourceError as err:  # too little footage to validate: the config's defaults, and say so
                skipped = f"validation skipped: {err}"
                log.warning(skipped, extra={"camera_id": camera.id})
        members, training = fit_members(camera, clips, policy=policy, progress=progress)
    if skipped:
        training["validation"] = skipped
    return write_bundle(out, camera_id=camera.id, scene=camera.scene.value, resize=camera.resize, color=camera.color,
                        members=members, policy_id=policy.policy_id if policy else "default", training=training,
                        tuning=tuning.model_dump(mode="json") if tuning is not None else None)


def total_work(camera: CameraConfig, clips: Sequence[Sequence[Frame]], *, validate: bool = True,
               folds: int = DEFAULT_FOLDS) -> int:
    """Frames the progress bar will count: every model sees every frame once (fit or hold-out), and
    with ``validate`` once more per fold plus the synthetic anomalies made from its held-out clips."""
    once = len(camera.effective_models()) * sum(map(len, clips))
    if not validate:
        return once
    from edge_agent.training.validate import validation_work

    return once + validation_work(camera, clips, folds)
