"""Agent and camera configuration (pydantic v2, strict: unknown keys are errors, values frozen).

* :class:`Policy` - the resolved privacy policy the cloud pushes: ``policy_id``,
  ``forbidden_capabilities`` and ``allowed_biometric`` (biometric capabilities are off unless listed).
* :class:`CameraConfig` - source, resize, ROI / privacy masks (polygons in normalised 0..1
  coordinates), zones, models (a union discriminated on ``type``; types that are not built in
  validate as :class:`PluginModel` and are checked by the registry; ``None`` = the default set for
  the camera's ``scene`` class), smoothing, consensus (k of n, per-shift thresholds, hysteresis).
* :class:`AgentConfig` - policy + cameras + where events go. Loaded from JSON or TOML by :func:`load_config`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from edge_agent._compat import StrEnum, TOMLDecodeError, toml_loads
from edge_agent.errors import ConfigError
from edge_agent.models.base import BIOMETRIC_CAPABILITIES, Capability

Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SceneClass(StrEnum):
    INDOOR = "indoor"
    OUTDOOR = "outdoor"
    PARKING = "parking"
    RETAIL = "retail"


class Polygon(Strict):
    """A polygon in normalised image coordinates (x right, y down, both 0..1)."""

    points: list[Point] = Field(min_length=3)


class Policy(Strict):
    policy_id: str = "default"
    forbidden_capabilities: frozenset[Capability] = frozenset()
    allowed_biometric: frozenset[Capability] = frozenset()

    @field_validator("allowed_biometric")
    @classmethod
    def _only_biometric(cls, value: frozenset[Capability]) -> frozenset[Capability]:
        if extra := sorted(c.value for c in value - BIOMETRIC_CAPABILITIES):
            allowed = sorted(c.value for c in BIOMETRIC_CAPABILITIES)
            raise ValueError(f"allowed_biometric accepts only {allowed}; got {extra}")
        return value

    @model_validator(mode="after")
    def _no_contradiction(self) -> Policy:
        if both := sorted(c.value for c in self.allowed_biometric & self.forbidden_capabilities):
            raise ValueError(f"capabilities {both} are both forbidden and allowed")
        return self

    def summary(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "forbidden": sorted(c.value for c in self.forbidden_capabilities),
            "biometric_allowed": sorted(c.value for c in self.allowed_biometric),
            "biometric_off": sorted(c.value for c in BIOMETRIC_CAPABILITIES - self.allowed_biometric),
        }


# ---------------------------------------------------------------- models (union on ``type``)
class _ModelBase(Strict):
    type: str
    name: str | None = None  # unique per camera; defaults to the type
    weight: float = Field(default=1.0, gt=0.0)
    params: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def model_name(self) -> str:
        return self.name or str(self.type)

    def model_params(self) -> dict[str, Any]:
        """Constructor params: typed fields of the subclass + free ``params``."""
        typed = self.model_dump(mode="json", exclude={"type", "name", "weight", "params"})
        return {**typed, **self.params}


class FlowModel(_ModelBase):
    type: Literal["flow"]


class ObjectsModel(_ModelBase):
    type: Literal["objects"]


class AutoencoderModel(_ModelBase):
    type: Literal["autoencoder"]


class AppearanceModel(_ModelBase):
    type: Literal["appearance"]


class HogPersonModel(_ModelBase):
    type: Literal["hog_person"]
    hit_threshold: float = 0.0
    stride: int = Field(default=8, ge=4, le=32)


class YoloOnnxModel(_ModelBase):
    type: Literal["yolo_onnx"]
    model_path: str
    person_class: int = 0
    conf_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    runtime: Literal["auto", "cpu", "cuda", "tensorrt"] = "auto"


class ClipOnnxModel(_ModelBase):
    type: Literal["clip_onnx"]
    encoder_path: str
    prompts_path: str  # .npz / .json with normal and abnormal text embeddings
    runtime: Literal["auto", "cpu", "cuda", "tensorrt"] = "auto"


class FaceHaarModel(_ModelBase):
    type: Literal["face_haar"]
    scale_factor: float = Field(default=1.2, gt=1.0)
    min_neighbors: int = Field(default=4, ge=1)


class FaceRecognitionModel(_ModelBase):
    type: Literal["face_recognition_onnx"]
    model_path: str
    watchlist_path: str | None = None  # .npy of reference embeddings
    runtime: Literal["auto", "cpu", "cuda", "tensorrt"] = "auto"


class ZoneRulesModel(_ModelBase):
    type: Literal["zone_rules"]


class PluginModel(_ModelBase):
    """Any other registered model type (third-party or new plug-ins); checked by the registry at load."""

    type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


_BUILTIN_CONFIGS: tuple[type[_ModelBase], ...] = (
    FlowModel, ObjectsModel, AutoencoderModel, AppearanceModel, HogPersonModel, YoloOnnxModel, ClipOnnxModel, FaceHaarModel,
    FaceRecognitionModel, ZoneRulesModel,
)
BUILTIN_MODEL_TYPES: frozenset[str] = frozenset(get_args(c.model_fields["type"].annotation)[0] for c in _BUILTIN_CONFIGS)


def _model_tag(value: Any) -> str | None:
    t = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if t is None:
        return None  # -> the custom error below
    return t if t in BUILTIN_MODEL_TYPES else "plugin"


ModelConfig = Annotated[
    Annotated[FlowModel, Tag("flow")] | Annotated[ObjectsModel, Tag("objects")]
    | Annotated[AutoencoderModel, Tag("autoencoder")] | Annotated[AppearanceModel, Tag("appearance")]
    | Annotated[HogPersonModel, Tag("hog_person")]
    | Annotated[YoloOnnxModel, Tag("yolo_onnx")] | Annotated[ClipOnnxModel, Tag("clip_onnx")]
    | Annotated[FaceHaarModel, Tag("face_haar")] | Annotated[FaceRecognitionModel, Tag("face_recognition_onnx")]
    | Annotated[ZoneRulesModel, Tag("zone_rules")] | Annotated[PluginModel, Tag("plugin")],
    Discriminator(_model_tag, custom_error_type="model_type_missing",
                  custom_error_message=f"every model needs a 'type'; built in: {sorted(BUILTIN_MODEL_TYPES)}"),
]

DEFAULT_MODELS: dict[SceneClass, tuple[str, ...]] = {
    SceneClass.INDOOR: ("flow", "objects", "autoencoder", "appearance"),
    SceneClass.OUTDOOR: ("flow", "objects", "autoencoder", "appearance"),
    SceneClass.PARKING: ("flow", "objects", "autoencoder", "appearance", "zone_rules"),
    SceneClass.RETAIL: ("flow", "objects", "autoencoder", "appearance", "zone_rules"),
}

_SIMPLE_TYPES: dict[str, type[_ModelBase]] = {
    "flow": FlowModel, "objects": ObjectsModel, "autoencoder": AutoencoderModel, "appearance": AppearanceModel,
    "zone_rules": ZoneRulesModel,
}


# ---------------------------------------------------------------- zones, smoothing, consensus
class Zone(Strict):
    name: str = Field(min_length=1)
    polygon: Polygon
    intrusion: bool = False  # any track inside is an event
    loiter_s: float | None = Field(default=None, gt=0)  # dwell longer than this is an event
    line: tuple[Point, Point] | None = None  # crossing this line ...
    allowed_direction: Literal["any", "left_to_right", "right_to_left", "up", "down"] = "any"  # ... the wrong way


class Smoothing(Strict):
    """Causal smoothing of calibrated scores (``edge_agent.pipeline.smoothing.Smoother``).

    Without these set, ``vad-edge train`` chooses them per camera from its validation (the bundle's
    ``tuning``); the defaults here apply to a bundle without one. ``window_s`` is the older plain
    EMA: it sets ``attack_s`` and ``release_s`` both to the window.
    """

    median_s: float = Field(default=0.3, ge=0.0)  # median over the last this-many seconds (3 frames at 10 fps)
    attack_s: float = Field(default=0.0, ge=0.0)  # EMA window while the score rises; 0 = follow at once
    release_s: float = Field(default=1.0, ge=0.0)  # EMA window while it falls
    window_s: float | None = Field(default=None, ge=0.0)  # plain EMA (attack = release = window); 0 = off

    @model_validator(mode="after")
    def _plain_ema(self) -> Smoothing:
        if self.window_s is not None:
            object.__setattr__(self, "attack_s", self.window_s)
            object.__setattr__(self, "release_s", self.window_s)
            if "median_s" not in self.model_fields_set:
                object.__setattr__(self, "median_s", 0.0)
        return self


class Shift(Strict):
    name: str
    start: dt.time
    end: dt.time  # end < start wraps midnight
    threshold: float = Field(gt=0.0)

    def contains(self, t: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


class Consensus(Strict):
    k: float | None = Field(default=None, gt=0)  # weighted votes needed; None = min(2, n voting models)
    threshold: float = Field(default=1.0, gt=0.0)  # calibrated score a model must reach to vote
    hysteresis: float = Field(default=0.3, ge=0.0, lt=1.0)  # while open, votes need threshold * (1 - hysteresis)
    close_after_s: float = Field(default=2.0, ge=0.0)  # below the close level this long -> event ends
    shifts: list[Shift] = Field(default_factory=list)

    def threshold_at(self, t: dt.time) -> float:
        for shift in self.shifts:
            if shift.contains(t):
                return shift.threshold
        return self.threshold


class Reconnect(Strict):
    initial_s: float = Field(default=0.5, gt=0)
    max_s: float = Field(default=30.0, gt=0)
    factor: float = Field(default=2.0, ge=1.0)
    max_attempts: int | None = Field(default=None, ge=0)  # None = forever


class CameraConfig(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    source: str = Field(min_length=1)  # file, folder of frames, rtsp:// http:// URL, or webcam:N
    fps: float | None = Field(default=None, gt=0)  # for folders of frames (default 10) / when the source lies
    scene: SceneClass = SceneClass.OUTDOOR
    resize: tuple[Annotated[int, Field(ge=16)], Annotated[int, Field(ge=16)]] = (360, 240)
    color: bool = False
    roi: list[Polygon] = Field(default_factory=list)  # analysed areas; empty = whole frame
    privacy_masks: list[Polygon] = Field(default_factory=list)  # never reach a model
    blur_faces: bool = False
    zones: list[Zone] = Field(default_factory=list)
    models: list[ModelConfig] | None = None  # None = DEFAULT_MODELS[scene]
    bundle: str | None = None
    smoothing: Smoothing = Smoothing()
    consensus: Consensus = Consensus()
    reconnect: Reconnect = Reconnect()
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _unique_names(self) -> CameraConfig:
        names = [m.model_name for m in self.effective_models()]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"model names must be unique per camera; duplicated: {dupes} (set `name`)")
        zones = [z.name for z in self.zones]
        if dupes := sorted({n for n in zones if zones.count(n) > 1}):
            raise ValueError(f"zone names must be unique; duplicated: {dupes}")
        return self

    def effective_models(self) -> list[_ModelBase]:
        if self.models is not None:
            return list(self.models)
        return [_SIMPLE_TYPES[t].model_validate({"type": t}) for t in DEFAULT_MODELS[self.scene]]


class AgentConfig(Strict):
    device_id: str = "edge-1"
    policy: Policy = Policy()
    cameras: list[CameraConfig] = Field(default_factory=list)
    events_url: str | None = None  # POST events here; None = print JSON lines

    @model_validator(mode="after")
    def _unique_cameras(self) -> AgentConfig:
        ids = [c.id for c in self.cameras]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"camera ids must be unique; duplicated: {dupes}")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise ConfigError(f"unknown camera {camera_id!r}; configured: {[c.id for c in self.cameras]}")


def format_validation_error(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "<root>"
        parts.append(f"{loc}: {e['msg']}")
    return f"invalid config {source}: " + "; ".join(parts)


def load_config(path: Path | str) -> AgentConfig:
    """Read an :class:`AgentConfig` from a .json or .toml file (errors name the file and field)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {p}: {err.strerror or err}") from err
    try:
        data = toml_loads(text, source=f"config {p}") if p.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, TOMLDecodeError) as err:
        raise ConfigError(f"config {p} is not valid {'TOML' if p.suffix == '.toml' else 'JSON'}: {err}") from err
    return parse_config(data, source=str(p))


def parse_config(data: Any, *, source: str = "<config>") -> AgentConfig:
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from err
