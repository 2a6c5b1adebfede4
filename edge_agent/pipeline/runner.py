"""Run several cameras at once; one camera failing never stops the others.

Each camera runs its pipeline in a thread. Any error while building or running a camera
(bad source, corrupt bundle, forbidden capability, a model crash) is logged and reported as a
``stream_status`` message with ``status="failed"``; the other cameras keep going. Every
``heartbeat_s`` the runner emits a :class:`~edge_agent.protocol.Heartbeat`: per-camera fps (since the
last beat), frames, dropped frames, frame-to-event latency p50 / p99, this process's CPU and memory
(from /proc where readable) and the outbox figures from ``outbox_stats``.

Live reconfiguration (:meth:`Runner.reconcile`, :meth:`Runner.submit`): other threads (the
sender's config/command callbacks) hand jobs to the runner's own loop, which runs them between
heartbeats. A reconcile starts cameras that are new, stops cameras that are gone and restarts only
the cameras whose effective config changed (a model unloaded with :meth:`Runner.unload` counts as a
change); the others keep running without a gap. ``applied_version`` is the cloud config version
in force (reported as the heartbeat's ``config_version``).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from edge_agent import __version__
from edge_agent.config import AgentConfig, CameraConfig, Policy
from edge_agent.errors import EdgeError
from edge_agent.pipeline.build import build_pipeline
from edge_agent.pipeline.pipeline import Message, Pipeline
from edge_agent.pipeline.sources import LiveSource, RawFrame, SourceItem, open_source
from edge_agent.protocol import CameraBeat, Heartbeat, StreamStatus

log = logging.getLogger(__name__)

Sink = Callable[[Message | Heartbeat], None]
FrameTap = Callable[[str, Any, float], None]  # (camera id, raw image, ts): e.g. edge_agent.scene.SceneImages


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 2)


class ProcStats:
    """This process's CPU % (since the previous call) and resident memory, from /proc; None where unreadable."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def cpu_percent(self) -> float | None:
        try:
            with open("/proc/self/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu_s = (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime
        except (OSError, IndexError, ValueError):
            return None
        now = time.monotonic()
        last, self._last = self._last, (now, cpu_s)
        if last is None or now <= last[0]:
            return None
        return round(100.0 * (cpu_s - last[1]) / (now - last[0]), 1)

    @staticmethod
    def memory_mb() -> float | None:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return round(int(line.split()[1]) / 1024.0, 1)
        except (OSError, ValueError, IndexError):
            return None
        return None


class CameraWorker(threading.Thread):
    def __init__(self, camera: CameraConfig, agent: AgentConfig, sink: Sink, max_frames: int | None = None,
                 policy: Policy | None = None) -> None:
        super().__init__(name=f"camera-{camera.id}", daemon=True)
        self.camera, self.agent, self.sink, self.max_frames = camera, agent, sink, max_frames
        self.policy = policy if policy is not None else agent.policy
        self.state = "running"
        self.pipeline: Pipeline | None = None
        self.source: Iterable[SourceItem] | None = None
        self.started_at = time.monotonic()
        self._beat = (self.started_at, 0)  # (monotonic, frames) at the previous heartbeat
        self._halt = threading.Event()
        self.frame_tap: FrameTap | None = None  # sees every raw frame (Runner.set_frame_tap); must not raise

    def run(self) -> None:
        try:
            self.pipeline = build_pipeline(self.camera, self.policy)
            self.source = open_source(self.camera.source, fps=self.camera.fps, reconnect=self.camera.reconnect)
            for item in self.source:
                if self.frame_tap is not None and isinstance(item, RawFrame):
                    self.frame_tap(self.camera.id, item.image, item.ts)
                for msg in self.pipeline.process(item):
                    if isinstance(msg, StreamStatus):
                        self.state = "reconnecting" if msg.status == "lost" else "running"
                    self.sink(msg)
                if self._halt.is_set() or (self.max_frames is not None and self.pipeline.frames >= self.max_frames):
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
        self.sink(StreamStatus(camera_id=self.camera.id, status="failed", ts=time.time(), detail=detail[:500]))

    def stop(self) -> None:
        self._halt.set()
        if isinstance(self.source, LiveSource):
            self.source.stop()

    def beat(self) -> CameraBeat:
        """This camera's part of the heartbeat; fps is over the time since the previous beat."""
        p = self.pipeline
        frames = p.frames if p else 0
        now = time.monotonic()
        (then, before), self._beat = self._beat, (now, frames)
        lat = list(p.latencies_ms) if p else []
        return CameraBeat(camera_id=self.camera.id, state=self.state,  # type: ignore[arg-type]
                          fps=round((frames - before) / max(1e-6, now - then), 2), frames=frames,
                          dropped_frames=p.dropped_frames if p else 0,
                          latency_p50_ms=_percentile(lat, 0.5), latency_p99_ms=_percentile(lat, 0.99),
                          open_events=int(p is not None and p.events.start is not None))


class Runner:
    def __init__(self, agent: AgentConfig, sink: Sink, *, max_frames: int | None = None,
                 outbox_stats: Callable[[], dict[str, int]] | None = None,
                 heartbeat_extra: Callable[[], dict[str, Any]] | None = None) -> None:
        self.agent = agent
        self._lock = threading.Lock()
        self._sink = sink
        self.outbox_stats = outbox_stats
        self.heartbeat_extra = heartbeat_extra
        self.proc = ProcStats()
        self.stop_event = threading.Event()
        self.frame_tap: FrameTap | None = None
        self.max_frames = max_frames
        self.keep_running = False  # see run(); a cloud-configured agent sets it (cameras may come later)
        self.applied_version: int | None = None  # the cloud config version in force (None: local config)
        self.unloaded: dict[str, set[str]] = {}  # camera id -> model names stopped until the next config
        self.unbuildable: dict[str, str] = {}  # configured cameras that could not be built (id -> reason)
        self.policies: dict[str, Policy] = {}  # camera id -> its own policy (else agent.policy)
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self.workers = [self._worker(cam) for cam in agent.cameras]

    def _effective(self, camera: CameraConfig) -> CameraConfig:
        gone = self.unloaded.get(camera.id)
        if not gone:
            return camera
        return camera.model_copy(update={"models": [m for m in camera.effective_models() if m.model_name not in gone]})

    def _worker(self, camera: CameraConfig) -> CameraWorker:
        return CameraWorker(self._effective(camera), self.agent, self._emit, self.max_frames, policy=self.agent.policy)

    # --- live reconfiguration (runs on the runner's thread) ----------------------------------
    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the runner's thread, between two ticks of its loop (returns at once)."""
        self._jobs.put(job)

    def _run_jobs(self, wait_s: float) -> None:
        try:
            job = self._jobs.get(timeout=wait_s)
        except queue.Empty:
            return
        while True:
            try:
                job()
            except Exception:  # noqa: BLE001 - a job must never stop the cameras
                log.error("runner job failed", exc_info=True)
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return

    def reconcile(self, cameras: list[CameraConfig], policy: Policy, *, version: int | None = None,
                  restart_all: bool = False, unbuildable: dict[str, str] | None = None,
                  policies: dict[str, Policy] | None = None) -> dict[str, list[str]]:
        """Make the running cameras ``cameras`` under ``policy``. Call on the runner's thread
        (:meth:`submit`) or before :meth:`run`. Returns the camera ids started, stopped,
        restarted and left running. ``unbuildable``: camera id -> reason for configured cameras
        that could not even be described (shown as failed in heartbeats). ``policies``: camera id ->
        that camera's own policy (else ``policy``); a camera restarts when its policy changes."""
        self.unbuildable = dict(unbuildable or {})
        self.policies = dict(policies or {})
        self.agent = self.agent.model_copy(update={"policy": policy, "cameras": list(cameras)})
        wanted = {c.id: self._effective(c) for c in cameras}
        running = {w.camera.id: w for w in self.workers}
        out: dict[str, list[str]] = {"started": [], "stopped": [], "restarted": [], "unchanged": []}
        halt = [w for cid, w in running.items()
                if cid not in wanted or restart_all or w.camera != wanted[cid] or w.policy != self._policy(cid, policy)]
        for w in halt:
            w.stop()
        for w in halt:
            if w.is_alive():
                w.join(timeout=5.0)
            out["restarted" if w.camera.id in wanted else "stopped"].append(w.camera.id)
        halted = {w.camera.id for w in halt}
        workers: list[CameraWorker] = []
        for cid, cam in wanted.items():
            if cid in running and cid not in halted:
                workers.append(running[cid])
                out["unchanged"].append(cid)
                continue
            worker = CameraWorker(cam, self.agent, self._emit, self.max_frames, policy=self._policy(cid, policy))
            workers.append(worker)
            if cid not in running:
                out["started"].append(cid)
        self.workers = workers
        self.set_frame_tap(self.frame_tap)  # new workers see frames too
        if version is not None:
            self.applied_version = version
        for w in workers:
            if not w.is_alive() and w.ident is None:
                w.start()
        log.info("cameras reconciled", extra={"config_version": self.applied_version, **out})
        return out

    def unload(self, camera_id: str, model: str) -> None:
        """Stop running ``model`` on ``camera_id`` until the next config (restarts that camera only)."""
        self.unloaded.setdefault(camera_id, set()).add(model)
        self.reconcile(list(self.agent.cameras), self.agent.policy, version=self.applied_version,
                       unbuildable=self.unbuildable, policies=self.policies)

    def _policy(self, camera_id: str, default: Policy) -> Policy:
        return self.policies.get(camera_id, default)

    def set_frame_tap(self, tap: FrameTap | None) -> None:
        """Show every camera's raw frames to ``tap`` (the scene-image capture), from now on."""
        self.frame_tap = tap
        for w in self.workers:
            w.frame_tap = tap

    def _emit(self, msg: Message | Heartbeat) -> None:
        with self._lock:
            self._sink(msg)

    def heartbeat(self) -> Heartbeat:
        extra: dict[str, Any] = dict(self.outbox_stats() if self.outbox_stats else {})
        if self.heartbeat_extra:
            extra.update(self.heartbeat_extra())
        if self.applied_version is not None:
            extra["config_version"] = self.applied_version  # the version in force, not just received
        beats = [w.beat() for w in self.workers] + [CameraBeat(camera_id=cid, state="failed")
                                                    for cid in self.unbuildable]
        return Heartbeat(ts=time.time(), agent_version=__version__, cameras=beats,
                         cpu_percent=self.proc.cpu_percent(), memory_mb=self.proc.memory_mb(), **extra)

    def stop(self) -> None:
        """Ask every camera to stop after its current frame (open events are closed and sent)."""
        self.stop_event.set()

    def run(self, *, heartbeat_s: float = 10.0, timeout_s: float | None = None, keep_running: bool = False) -> None:
        """Run every camera until they all end (or :meth:`stop`, or ``timeout_s``); with ``keep_running``
        until :meth:`stop` even with no camera left (heartbeats keep going: an enrolled box waiting
        for its cameras)."""
        self.proc.cpu_percent()
        self.keep_running = self.keep_running or keep_running
        for w in self.workers:
            if w.ident is None:
                w.start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        next_beat = time.monotonic() + heartbeat_s
        try:
            while (self.keep_running or any(w.is_alive() for w in self.workers)
                   or not self._jobs.empty()) and not self.stop_event.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                self._run_jobs(0.1)
                if time.monotonic() >= next_beat:
                    self._emit(self.heartbeat())
                    next_beat += heartbeat_s
        finally:
            for w in self.workers:
                w.stop()
            for w in self.workers:
                w.join(timeout=5.0)
