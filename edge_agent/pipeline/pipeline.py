"""One camera's pipeline: preprocess -> models -> calibrate -> smooth -> consensus -> events.

Each stage is a small callable with ``reset()``; :class:`Pipeline` wires them and turns source
items (frames and stream status) into protocol messages. A reconnect resets per-stream state and
ends any open event.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from edge_agent.config import CameraConfig
from edge_agent.models.base import AnomalyModel, Capability, Frame, ModelScore
from edge_agent.pipeline.calibrate import Calibrator
from edge_agent.pipeline.consensus import Decision, KofN
from edge_agent.pipeline.events import EventBuilder, EventMessage, Snapshot
from edge_agent.pipeline.preprocess import FaceBlur, Preprocess
from edge_agent.pipeline.smoothing import Smoother
from edge_agent.pipeline.sources import RawFrame, SourceItem
from edge_agent.protocol import StreamStatus

Message = EventMessage | StreamStatus
LATENCY_WINDOW = 1000  # frame-to-event latencies kept for the heartbeat's p50 / p99


@dataclass
class Member:
    """A loaded model in a camera's ensemble."""

    name: str
    model: AnomalyModel
    calibrator: Calibrator | None = None
    weight: float = 1.0

    @property
    def votes(self) -> bool:
        return self.model.votes

    @property
    def is_rule(self) -> bool:
        return Capability.ZONE_RULES in self.model.capabilities


class ScoreModels:
    def __init__(self, members: Sequence[Member]) -> None:
        self.members = list(members)

    def reset(self) -> None:
        for m in self.members:
            m.model.reset()

    def __call__(self, frame: Frame) -> dict[str, ModelScore]:
        return {m.name: m.model.score(frame) for m in self.members}


class Calibrate:
    def __init__(self, members: Sequence[Member]) -> None:
        self.calibrators = {m.name: m.calibrator for m in members}

    def __call__(self, raw: dict[str, ModelScore]) -> dict[str, float]:
        out = {}
        for name, s in raw.items():
            cal = self.calibrators.get(name)
            value = cal(s.raw) if cal is not None else float(s.raw)
            out[name] = value if math.isfinite(value) else 0.0
        return out


def fuse(scores: dict[str, float], weights: dict[str, float]) -> float:
    """Weighted mean of the voting models' scores (0 when none vote)."""
    total = sum(weights.values())
    return sum(scores.get(n, 0.0) * w for n, w in weights.items()) / total if total else 0.0


def fired_rule(members: Sequence[Member], raw: dict[str, ModelScore]) -> tuple[str, str] | None:
    for m in members:
        s = raw[m.name]
        if m.is_rule and s.raw >= 1.0 and s.evidence:
            rule, _, zone = s.evidence[0].label.partition(":")
            return rule, zone
    return None


class Pipeline:
    def __init__(self, camera: CameraConfig, members: Sequence[Member], face_blur: FaceBlur | None = None) -> None:
        self.camera = camera
        self.members = list(members)
        self.weights = {m.name: m.weight for m in self.members if m.votes}
        self.preprocess = Preprocess(camera, face_blur)
        self.score = ScoreModels(self.members)
        self.calibrate = Calibrate(self.members)
        sm = camera.smoothing
        self.smooth = Smoother(sm.median_s, sm.attack_s, sm.release_s)
        self.consensus = KofN(camera.consensus, self.weights, camera.timezone)
        self.events = EventBuilder(camera.id, {m.name: m.model.type_key for m in self.members},
                                   self.weights, camera.zones, camera.resize)
        self.last_ts = 0.0
        self.frames = 0
        self.last_snapshot: Snapshot | None = None  # fused + per-model scores of the latest frame
        self.last_decision: Decision | None = None  # the k-of-n gate on the latest frame
        self.dropped_frames = 0  # gaps in the source's frame numbers
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)  # frame received -> event message built
        self._last_index: int | None = None

    def warmup(self) -> None:
        for m in self.members:
            m.model.warmup()

    def reset(self) -> None:
        self.score.reset()
        self.smooth.reset()
        self.consensus.reset()
        self.events.reset()
        self._last_index = None

    def process_frame(self, raw_frame: RawFrame) -> EventMessage | None:
        wall = time.time()
        if self._last_index is not None and raw_frame.index > self._last_index + 1:
            self.dropped_frames += raw_frame.index - self._last_index - 1
        self._last_index = raw_frame.index
        frame = self.preprocess(raw_frame)
        return self.decide(frame.index, frame.ts, self.score(frame), wall)

    def decide(self, index: int, ts: float, raw: dict[str, ModelScore], wall: float | None = None) -> EventMessage | None:
        """Everything after the models: calibrate -> smooth -> fuse -> consensus -> events.

        ``vad-edge bench`` and the training-time validation replay recorded model scores through
        this, so their figures come from the same code as a running camera's events."""
        wall = time.time() if wall is None else wall
        calibrated = self.calibrate(raw)
        # only voting scores are smoothed; detectors and zone rules report their frame's value
        scores = {**calibrated, **self.smooth(ts, {n: calibrated[n] for n in self.weights})}
        fused = fuse(scores, self.weights)
        snap = Snapshot(index, ts, raw, scores, fused, fired_rule(self.members, raw), wall)
        decision = self.consensus(ts, scores, forced=snap.rule is not None)
        self.last_ts, self.last_snapshot, self.last_decision = ts, snap, decision
        self.frames += 1
        msg = self.events(snap, decision)
        if msg is not None:
            self.latencies_ms.append((time.time() - wall) * 1000.0)
        return msg

    def process(self, item: SourceItem) -> list[Message]:
        if isinstance(item, RawFrame):
            msg = self.process_frame(item)
            return [msg] if msg is not None else []
        out: list[Message] = [StreamStatus(camera_id=self.camera.id, status=item.status, ts=time.time(),
                                           attempt=item.attempt, detail=item.detail)]
        if item.status in ("lost", "ended"):
            end = self.events.close(self.last_ts)
            if end is not None:
                out.insert(0, end)
        if item.status in ("opened", "lost", "restored"):
            self.reset()
        return out

    def run(self, source: Iterable[SourceItem]) -> Iterator[Message]:
        """Process a whole source from a clean state (models, smoothing, consensus reset)."""
        self.reset()
        for item in source:
            yield from self.process(item)
        end = self.events.close(self.last_ts)
        if end is not None:
            yield end
