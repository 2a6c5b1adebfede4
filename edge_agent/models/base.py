"""The contract every anomaly model / detector plug-in implements.

Shape of the contract (shared with the accuracy engineer's models: flow, objects, autoencoder):

* :class:`Capability` - what a model does with people's pixels; the policy may forbid some.
  :data:`BIOMETRIC_CAPABILITIES` are off unless the policy explicitly allows them.
* :class:`Frame` - what a model sees *after* preprocessing: resized, and with ROI / privacy
  masked pixels already zeroed (``valid`` is False there). Models never see raw camera pixels.
* :class:`ModelScore` - ``raw`` (higher = more anomalous, any scale; the pipeline calibrates it
  per camera with ``edge_agent.pipeline.calibrate.Calibrator``), plus ``evidence`` (top first) and
  ``boxes`` (x, y, w, h in pixels of the preprocessed frame).
* :class:`AnomalyModel` - the ABC. Subclasses set ``type_key`` (the ``type`` used in config and in
  the bundle manifest), ``capabilities`` and ``input_spec``, are registered with
  ``@edge_agent.models.registry.register``, and implement ``fit`` / ``reset`` / ``score`` /
  ``save`` / ``load``.

Lifecycle::

    model = Cls(**params)            # params: plain JSON values, kept in ``model.params``
    model.fit(clips, progress=cb)    # normal footage only: a sequence of clips, each an iterable of Frames
    extra = model.save(directory)    # writes weight files into ``directory``; returns JSON params
    model = Cls.load(directory, params_from_manifest)
    model.warmup()                   # default: scores blank frames, then reset()
    for frame in stream:             # causal: ``score`` may use this and *earlier* frames only
        s = model.score(frame)
    model.reset()                    # new stream or reconnect: drop per-stream state

Inference code must not import torch (torch lives in ``edge_agent/training`` only).

Built-in type keys the registry imports lazily (``models/registry.py`` ``BUILTIN_MODULES``):
``flow`` (models/flow.py), ``objects`` (models/objects.py), ``autoencoder`` (models/autoencoder.py),
``hog_person`` / ``yolo_onnx`` (person.py), ``clip_onnx`` (clip.py), ``face_haar`` /
``face_recognition_onnx`` (face.py), ``zone_rules`` (zones.py). Any other registered type works
too: the camera config accepts it as a plug-in model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from edge_agent._compat import Self, StrEnum
from edge_agent.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np


class Capability(StrEnum):
    MOTION = "motion"
    APPEARANCE = "appearance"
    OBJECTS = "objects"
    PERSON_DETECTION = "person_detection"
    VISION_LANGUAGE = "vision_language"
    ZONE_RULES = "zone_rules"
    FACE_DETECTION = "face_detection"
    BIOMETRIC_IDENTIFICATION = "biometric_identification"
    POSE_ESTIMATION = "pose_estimation"
    GAIT_ANALYSIS = "gait_analysis"
    EMOTION_RECOGNITION = "emotion_recognition"


#: Off unless the resolved policy lists them in ``allowed_biometric``.
BIOMETRIC_CAPABILITIES: frozenset[Capability] = frozenset(
    {
        Capability.BIOMETRIC_IDENTIFICATION,
        Capability.GAIT_ANALYSIS,
        Capability.EMOTION_RECOGNITION,
    }
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One preprocessed frame. Masked pixels are already zero in ``gray`` and ``bgr``."""

    index: int  # frame number in the stream
    ts: float  # seconds, the source's real timestamp
    gray: np.ndarray  # HxW uint8
    bgr: np.ndarray | None = None  # HxWx3 uint8 when the source is colour
    valid: np.ndarray | None = None  # HxW bool, False where a mask removed pixels; None = all valid

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.gray.shape[0]), int(self.gray.shape[1])


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a model scored what it scored: a grid cell, a box or a named feature."""

    kind: Literal["cell", "box", "feature"]
    label: str
    value: float
    where: tuple[float, ...] = ()  # cell: (row, col); box: (x, y, w, h) in pixels; feature: ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "value": float(self.value), "where": list(self.where)}


@dataclass(frozen=True, slots=True)
class ModelScore:
    """``raw``: higher = more anomalous (uncalibrated). ``evidence``: strongest first."""

    raw: float
    evidence: tuple[Evidence, ...] = ()
    boxes: tuple[tuple[int, int, int, int], ...] = ()  # (x, y, w, h) pixels


@dataclass(frozen=True, slots=True)
class InputSpec:
    """The frames a model expects: size after preprocessing, channels (1 gray / 3 bgr), clip length."""

    width: int
    height: int
    channels: int = 1
    clip_len: int = 1

    def to_dict(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height, "channels": self.channels, "clip_len": self.clip_len}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(int(data["width"]), int(data["height"]), int(data.get("channels", 1)), int(data.get("clip_len", 1)))


ProgressFn = Callable[[int], None]


def param(params: dict[str, Any], key: str, default: int | float, kind: type[int] | type[float] = int) -> Any:
    """``params[key]`` (or ``default``) as an int or float; a value that is not one names the param (ConfigError)."""
    value = params.get(key, default)
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"model param {key!r} must be {what}, got {value!r}") from None


class AnomalyModel(ABC):
    """Base class of every model plug-in (anomaly scorers, detectors, zone rules)."""

    type_key: ClassVar[str]
    version: ClassVar[str] = "1"
    capabilities: ClassVar[frozenset[Capability]]
    votes: ClassVar[bool] = True  # takes part in the k-of-n consensus
    needs_fit: ClassVar[bool] = True

    input_spec: InputSpec

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)
        width = param(params, "width", 360)
        height = param(params, "height", 240)
        self.input_spec = InputSpec(width=width, height=height, channels=param(params, "channels", 1))

    def fit(self, clips: Sequence[Iterable[Frame]], *, progress: ProgressFn | None = None) -> None:
        """Learn normality from normal footage only. ``progress(n)`` reports frames done."""
        if self.needs_fit:
            raise NotImplementedError(f"{type(self).__name__} must implement fit()")

    def reset(self) -> None:  # noqa: B027 - optional hook, stateless models keep the default
        """Forget per-stream state (new stream, or after a reconnect)."""

    @abstractmethod
    def score(self, frame: Frame) -> ModelScore:
        """Score one frame causally (may use state from earlier frames of the same stream)."""

    def warmup(self, n: int = 2) -> None:
        """Run a few blank frames through ``score`` (allocations, JIT, sessions), then reset."""
        for i in range(n):
            self.score(blank_frame(self.input_spec, index=i, ts=i / 10.0))
        self.reset()

    def save(self, directory: Path) -> dict[str, Any]:
        """Write weight files into ``directory``; return the JSON params stored in the manifest."""
        return dict(self.params)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        """Rebuild a fitted model from ``directory`` and the manifest params."""
        return cls(**params)

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type_key,
            "version": self.version,
            "capabilities": sorted(c.value for c in self.capabilities),
            "votes": self.votes,
            "input_spec": self.input_spec.to_dict(),
        }


def blank_frame(spec: InputSpec, index: int = 0, ts: float = 0.0) -> Frame:
    """A black frame matching ``spec`` (used by warmups and tests)."""
    import numpy as np  # not at module level: the config / policy code imports this module without numpy

    gray = np.zeros((spec.height, spec.width), np.uint8)
    bgr = np.zeros((spec.height, spec.width, 3), np.uint8) if spec.channels == 3 else None
    return Frame(index=index, ts=ts, gray=gray, bgr=bgr)


__all__ = [
    "BIOMETRIC_CAPABILITIES",
    "AnomalyModel",
    "Capability",
    "Evidence",
    "Frame",
    "InputSpec",
    "ModelScore",
    "ProgressFn",
    "blank_frame",
    "param",
]
