"""Wire schema between edge agent and cloud (pydantic v2 only; the control plane imports it too).

Protocol v2 (below): the edge <-> cloud websocket ``/ws/edge/``. Every message carries ``v`` (the
protocol version) and ``type`` (the discriminator); unknown keys and unknown types are errors.
:func:`parse_from_edge` / :func:`parse_from_cloud` validate one frame of either direction.
Metadata only: never pixels.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


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


# =============================================================================================
# Protocol v2: the edge <-> cloud websocket (``/ws/edge/``). One definition; the control plane
# imports these classes. JSON text frames, one message (or one ``batch``) per frame.
#
# Handshake:  cloud -> ``challenge`` (random nonce)
#             edge  -> ``hello`` (device id, versions, capabilities, last acked seq, Ed25519
#                      signature over ``challenge_bytes(nonce, device_id)``)
#             cloud -> ``welcome`` (the highest seq the cloud has committed for this device)
# Then the edge streams messages, each with ``seq`` = its outbox row id (per device, strictly
# increasing); the cloud answers ``ack`` after the database commit: ``seq`` is cumulative (every
# seq <= it is handled), ``results`` says per message ok / duplicate / rejected (with the error).
# A rejected message is acked too, so it never blocks the queue (the edge dead-letters it).
# Idempotent on the cloud by (device, seq) and by (device, event_id).
# Cloud -> edge at any time: ``config`` (signed), ``config_notice`` (a signed config over
# ``MAX_FRAME_BYTES``: fetch it over device-signed HTTP), ``command``, ``error``.
# =============================================================================================

PROTOCOL_V2: Literal[2] = 2
MAX_FRAME_BYTES = 256 * 1024  # one websocket frame, either direction
MAX_BATCH = 500  # messages in one ``batch``
MAX_CURVE_POINTS = 600  # score-curve samples around an event
SEQ_MAX = 2**63 - 1

Seq = Annotated[int, Field(ge=1, le=SEQ_MAX, strict=True)]
Short = Annotated[str, Field(min_length=1, max_length=200)]


class _V2(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[2] = PROTOCOL_V2


class _EdgeV2(_V2):
    """Edge -> cloud messages that go through the outbox. ``seq`` is set when the outbox stores
    the message (``msg.model_copy(update={"seq": row_id})``); a message without one is refused by
    the cloud."""

    seq: Seq | None = None


class ScoreCurve(BaseModel):
    """The fused score around an event, for the portal's plot: ``scores[i]`` at ``t0 + i * dt``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    t0: float
    dt: float = Field(gt=0)
    scores: list[float] = Field(max_length=MAX_CURVE_POINTS)
    threshold: float


class _EventFields(_EdgeV2):
    event_id: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]  # UUIDv7
    camera_id: Short  # the cloud's camera id (str of its pk) as in the signed config
    peak_ts: float  # source timestamp, seconds
    peak_score: float
    votes: float
    k: float
    threshold: float
    zone: str | None = Field(default=None, max_length=200)  # zone name in the camera config
    rule: str | None = Field(default=None, max_length=64)  # zone rule that fired, if any
    boxes: list[Box] = Field(default_factory=list, max_length=100)
    models: list[ModelVote] = Field(default_factory=list, max_length=32)
    curve: ScoreCurve | None = None
    frame_index: int = Field(ge=0)
    wall_ts: float | None = None  # wall clock (epoch s) of the peak frame: camera-to-alert latency


class EventOpen(_EventFields):
    type: Literal["event_open"] = "event_open"
    start_ts: float


class EventUpdate(_EventFields):
    """A higher peak, more votes or new boxes while the event is still open."""

    type: Literal["event_update"] = "event_update"


class EventClose(_EventFields):
    type: Literal["event_close"] = "event_close"
    start_ts: float
    end_ts: float


class StreamStatus(_EdgeV2):
    type: Literal["stream_status"] = "stream_status"
    camera_id: Short
    status: Literal["opened", "lost", "restored", "ended", "failed"]
    ts: float  # wall clock, seconds since the epoch
    attempt: int = 0
    detail: str = Field(default="", max_length=500)


class CameraBeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    camera_id: Short
    state: Literal["running", "reconnecting", "stopped", "failed"]
    fps: float = 0.0
    frames: int = 0
    dropped_frames: int = 0
    latency_p50_ms: float | None = None  # frame to event message
    latency_p99_ms: float | None = None
    open_events: int = 0


class ConfigRefusal(BaseModel):
    """Why the agent refused a pushed config (edge_agent.signedconfig.ConfigRefused); the last good
    config stays in force."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Short  # unknown_key_id, bad_signature, rollback, replay, bad_payload, wrong_device, ...
    detail: str = Field(default="", max_length=500)
    version: int | None = None


class Heartbeat(_EdgeV2):
    type: Literal["heartbeat"] = "heartbeat"
    ts: float  # wall clock, seconds since the epoch
    agent_version: Short
    cameras: list[CameraBeat] = Field(default_factory=list, max_length=256)
    cpu_percent: float | None = None
    memory_mb: float | None = None
    temperature_c: float | None = None
    model_versions: dict[str, str] = Field(default_factory=dict)
    policy_version: int | None = None
    config_version: int | None = None  # the signed config version in force (applied, not just received)
    config_refusal: ConfigRefusal | None = None  # the last pushed config the agent refused, if any
    outbox_depth: int = 0
    outbox_bytes: int = 0
    dead_letters: int = 0
    dropped_by_policy: int = 0  # messages the bounded outbox dropped (oldest health first)
    clock_offset_s: float | None = None
    runtimes: list[str] = Field(default_factory=list)


class CommandResult(_EdgeV2):
    type: Literal["command_result"] = "command_result"
    command_id: Short
    ok: bool
    detail: str = Field(default="", max_length=2000)


EdgeMessage = Annotated[EventOpen | EventUpdate | EventClose | StreamStatus | Heartbeat | CommandResult,
                        Field(discriminator="type")]


class Batch(_V2):
    """Several outbox messages in one frame (the cloud commits them in one transaction)."""

    type: Literal["batch"] = "batch"
    messages: list[EdgeMessage] = Field(min_length=1, max_length=MAX_BATCH)


class Hello(_V2):
    type: Literal["hello"] = "hello"
    device_id: int = Field(ge=1)
    agent_version: Short
    protocol: int = PROTOCOL_V2
    capabilities: list[str] = Field(default_factory=list, max_length=64)
    last_acked_seq: int = Field(default=0, ge=0)
    signature: str = Field(max_length=200)  # base64 Ed25519 signature of challenge_bytes(nonce, device_id)


def challenge_bytes(nonce: str, device_id: int) -> bytes:
    """What the device signs: the nonce and its own id, so a signature cannot be replayed for
    another device or another connection."""
    return f"vadcloud-edge-v2:{device_id}:{nonce}".encode()


# --- cloud -> edge ---------------------------------------------------------------------------
class Challenge(_V2):
    type: Literal["challenge"] = "challenge"
    nonce: str
    server_time: float


class Welcome(_V2):
    type: Literal["welcome"] = "welcome"
    device_id: int
    last_seq: int  # the highest seq committed for this device; the edge's next seq must exceed it
    config_version: int = 0


class AckResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    seq: int
    status: Literal["ok", "duplicate", "rejected"]
    error: str = ""


class Ack(_V2):
    type: Literal["ack"] = "ack"
    seq: int  # cumulative
    results: list[AckResult] = Field(default_factory=list)


class ConfigPush(_V2):
    """The device's configuration, signed by the cloud (Ed25519 over ``payload``'s UTF-8 bytes)."""

    type: Literal["config"] = "config"
    version: int = Field(ge=1)  # monotonic per device; the edge refuses a lower one
    key_id: Short
    payload: str  # canonical JSON (sorted keys, no spaces) of the device config
    signature: str  # base64


class ConfigNotice(_V2):
    """A signed config too large for one frame (``size`` > ``MAX_FRAME_BYTES``): the device fetches
    it with a device-signed ``GET`` of :func:`config_fetch_path` (its body is the ``ConfigPush``)
    and verifies it like a pushed one. Sent only to a device whose ``hello`` lists ``config_fetch``."""

    type: Literal["config_notice"] = "config_notice"
    version: int = Field(ge=1)  # the version signed when the notice was sent (a fetch may get a newer one)
    size: int = Field(ge=0)  # bytes of the ConfigPush JSON


def config_fetch_path(device_id: int) -> str:
    """Where a device fetches its current signed config over device-signed HTTP."""
    return f"/edge/devices/{device_id}/config"


class Command(_V2):
    type: Literal["command"] = "command"
    command_id: Short
    action: Literal["reload", "unload_model", "destroy_biometric_templates"]
    model: str | None = None  # unload_model: the model name in the camera config
    camera_id: str | None = Field(default=None, max_length=200)  # unload_model: the camera


class ErrorMessage(_V2):
    """``code``: 4400 bad message, 4403 not allowed (e.g. another device's camera), 4413 too large,
    4426 wrong protocol version. ``field`` names the offending field where there is one."""

    type: Literal["error"] = "error"
    code: int
    detail: str
    field: str | None = None
    seq: int | None = None


# Websocket close codes of /ws/edge/ (documented in the README).
CLOSE_AUTH_FAILED = 4401  # unknown device, bad signature, or no hello in time
CLOSE_REVOKED = 4403  # the device is revoked or disabled
CLOSE_PROTOCOL = 4426  # the first message was not a valid hello of this protocol version

FromEdge = Annotated[EventOpen | EventUpdate | EventClose | StreamStatus | Heartbeat | CommandResult | Batch | Hello,
                     Field(discriminator="type")]
FromCloud = Annotated[Challenge | Welcome | Ack | ConfigPush | ConfigNotice | Command | ErrorMessage,
                      Field(discriminator="type")]
_FROM_EDGE: TypeAdapter[FromEdge] = TypeAdapter(FromEdge)
_FROM_CLOUD: TypeAdapter[FromCloud] = TypeAdapter(FromCloud)


def parse_from_edge(data: dict[str, Any] | str | bytes) -> Any:
    """Validate one edge -> cloud frame; raises ``pydantic.ValidationError``."""
    if isinstance(data, (str, bytes)):
        return _FROM_EDGE.validate_json(data)
    return _FROM_EDGE.validate_python(data)


def parse_from_cloud(data: dict[str, Any] | str | bytes) -> Any:
    """Validate one cloud -> edge frame; raises ``pydantic.ValidationError``."""
    if isinstance(data, (str, bytes)):
        return _FROM_CLOUD.validate_json(data)
    return _FROM_CLOUD.validate_python(data)


__all__ = [
    "MAX_BATCH", "MAX_CURVE_POINTS", "MAX_FRAME_BYTES", "PROTOCOL_V2", "Ack", "AckResult", "Batch", "CameraBeat",
    "Challenge", "Command", "CommandResult", "ConfigNotice", "ConfigPush", "ConfigRefusal", "EdgeMessage",
    "ErrorMessage", "EventClose",
    "EventOpen",
    "EventUpdate", "Heartbeat", "Hello", "ScoreCurve", "StreamStatus", "Welcome", "challenge_bytes",
    "config_fetch_path", "parse_from_cloud", "parse_from_edge", "Box", "EvidenceOut", "ModelVote",
]
