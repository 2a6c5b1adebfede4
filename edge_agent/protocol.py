"""Wire schema between edge agent and cloud (pydantic v2 only; the control plane imports it too).

Every message carries ``v`` (the protocol version) and ``type`` (the discriminator):

* ``event``         - an anomaly event; sent at ``phase="start"`` and again at ``phase="end"``
                      with the final end time and peak. Metadata only: never pixels.
* ``stream_status`` - a camera's stream ``opened`` / ``lost`` / ``restored`` / ``ended`` / ``failed``.
* ``health``        - periodic device health with per-camera fps and state.

:func:`parse_message` validates any of them (unknown keys and unknown ``type`` are errors).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PROTOCOL_VERSION: Literal[1] = 1


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = PROTOCOL_VERSION


class EvidenceOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["cell", "box", "feature"]
    label: str
    value: float
    where: list[float] = Field(default_factory=list)


class ModelVote(BaseModel):
    """One model's part in an event, at the event's peak."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str  # model name in the camera config
    type: str
    score: float  # calibrated and smoothed; 1.0 ~ the high tail of this camera's normal footage
    voted: bool
    weight: float = 1.0
    evidence: list[EvidenceOut] = Field(default_factory=list)  # strongest first


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    x: int
    y: int
    w: int
    h: int
    source: str = ""  # model name that produced it


class EventMessage(_Msg):
    type: Literal["event"] = "event"
    event_id: str
    camera_id: str
    phase: Literal["start", "end"]
    start_ts: float  # seconds, source timestamps
    end_ts: float | None = None  # set when phase == "end"
    peak_ts: float
    peak_score: float  # fused score at the peak
    votes: float  # weighted votes at the peak
    k: float  # votes needed
    threshold: float  # vote threshold in force when the event opened (per shift)
    zone: str | None = None
    rule: str | None = None  # zone rule that fired (intrusion / loitering / wrong_way), if any
    boxes: list[Box] = Field(default_factory=list)
    models: list[ModelVote] = Field(default_factory=list)
    frame_index: int  # peak frame number


class StreamStatusMessage(_Msg):
    type: Literal["stream_status"] = "stream_status"
    camera_id: str
    status: Literal["opened", "lost", "restored", "ended", "failed"]
    ts: float  # wall clock, seconds since the epoch
    attempt: int = 0  # reconnect attempt number (lost/restored)
    detail: str = ""


class CameraHealth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    camera_id: str
    state: Literal["running", "reconnecting", "stopped", "failed"]
    fps: float = 0.0
    frames: int = 0
    open_events: int = 0


class HealthMessage(_Msg):
    type: Literal["health"] = "health"
    device_id: str
    ts: float
    agent_version: str
    cameras: list[CameraHealth] = Field(default_factory=list)
    runtimes: list[str] = Field(default_factory=list)


Message = Annotated[EventMessage | StreamStatusMessage | HealthMessage, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


def parse_message(data: dict[str, Any] | str | bytes) -> EventMessage | StreamStatusMessage | HealthMessage:
    """Validate a message dict or JSON text; raises ``pydantic.ValidationError``."""
    if isinstance(data, (str, bytes)):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)


__all__ = [
    "PROTOCOL_VERSION", "Box", "CameraHealth", "EventMessage", "EvidenceOut", "HealthMessage", "Message",
    "ModelVote", "StreamStatusMessage", "parse_message",
]
