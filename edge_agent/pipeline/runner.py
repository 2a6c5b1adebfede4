"""Run several cameras at once; one camera failing never stops the others.

Each camera runs its pipeline in a thread. Any error while building or running a camera
(bad source, corrupt bundle, forbidden capability, a model crash) is logged and reported as a
``stream_status`` message with ``status="failed"``; the other cameras keep going.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from edge_agent import __version__
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.errors import EdgeError
from edge_agent.pipeline.build import build_pipeline
from edge_agent.pipeline.pipeline import Message, Pipeline
from edge_agent.pipeline.sources import LiveSource, SourceItem, open_source
from edge_agent.protocol import CameraHealth, HealthMessage, StreamStatusMessage

log = logging.getLogger(__name__)

Sink = Callable[[Message | HealthMessage], None]


class CameraWorker(threading.Thread):
    def __init__(self, camera: CameraConfig, agent: AgentConfig, sink: Sink, max_frames: int | None = None) -> None:
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera, self.agent, self.sink, self.max_frames = camera, agent, sink, max_frames
        self.state = "running"
        self.pipeline: Pipeline | None = None
        self.source: Iterable[SourceItem] | None = None
        self.started_at = time.monotonic()

    def run(self) -> None:
        try:
            self.pipeline = build_pipeline(self.camera, self.agent.policy)
            self.source = open_source(self.camera.source, fps=self.camera.fps, reconnect=self.camera.reconnect)
            for item in self.source:
                for msg in self.pipeline.process(item):
                    if isinstance(msg, StreamStatusMessage):
                        self.state = "reconnecting" if msg.status == "lost" else "running"
                    self.sink(msg)
                if self.max_frames is not None and self.pipeline.frames >= self.max_frames:
                    break
            end = self.pipeline.events.close(self.pipeline.last_ts)
            if end is not None:
                self.sink(end)
            self.state = "stopped"
        except EdgeError as err:
            self._fail(str(err), exc_info=False)
        except Exception as err:  # noqa: BLE001 - process edge: a camera must never take the agent down
            self._fail(f"{type(err).__name__}: {err}", exc_info=True)

    def _fail(self, detail: str, *, exc_info: bool) -> None:
        self.state = "failed"
        log.error("camera failed", exc_info=exc_info, extra={"camera_id": self.camera.id, "detail": detail})
        self.sink(StreamStatusMessage(camera_id=self.camera.id, status="failed", ts=time.time(), detail=detail))

    def stop(self) -> None:
        if isinstance(self.source, LiveSource):
            self.source.stop()

    def health(self) -> CameraHealth:
        p = self.pipeline
        frames = p.frames if p else 0
        elapsed = max(1e-6, time.monotonic() - self.started_at)
        return CameraHealth(camera_id=self.camera.id, state=self.state, fps=round(frames / elapsed, 2), frames=frames,  # type: ignore[arg-type]
                            open_events=int(p is not None and p.events.start is not None))


class Runner:
    def __init__(self, agent: AgentConfig, sink: Sink, *, max_frames: int | None = None) -> None:
        self.agent = agent
        self._lock = threading.Lock()
        self._sink = sink
        self.workers = [CameraWorker(cam, agent, self._emit, max_frames) for cam in agent.cameras]

    def _emit(self, msg: Message | HealthMessage) -> None:
        with self._lock:
            self._sink(msg)

    def health(self) -> HealthMessage:
        return HealthMessage(device_id=self.agent.device_id, ts=time.time(), agent_version=__version__,
                             cameras=[w.health() for w in self.workers])

    def run(self, *, health_every_s: float = 60.0, timeout_s: float | None = None) -> None:
        for w in self.workers:
            w.start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        next_health = time.monotonic() + health_every_s
        try:
            while any(w.is_alive() for w in self.workers):
                if deadline is not None and time.monotonic() > deadline:
                    break
                for w in self.workers:
                    w.join(timeout=0.2)
                if time.monotonic() >= next_health:
                    self._emit(self.health())
                    next_health += health_every_s
        finally:
            for w in self.workers:
                w.stop()
