"""Frame sources (OpenCV): video file, folder of frames, RTSP/HTTP stream, webcam.

A source is an iterable of :class:`RawFrame` and :class:`StreamEvent` items. ``RawFrame.ts`` is a
real timestamp: the container's presentation time for files, ``index / fps`` for folders of
frames, and the wall-clock capture time for live streams and webcams. Live sources reconnect with
exponential backoff and report ``lost`` / ``restored`` in between; frame indices keep increasing.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edge_agent.config import Reconnect
from edge_agent.errors import SourceError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})
STREAM_RE = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RawFrame:
    index: int
    ts: float
    image: np.ndarray  # HxW (gray) or HxWx3 (BGR) uint8, straight from the source


@dataclass(frozen=True, slots=True)
class StreamEvent:
    status: Literal["opened", "lost", "restored", "ended"]
    attempt: int = 0
    detail: str = ""


SourceItem = RawFrame | StreamEvent


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


class FolderSource:
    """Images in a folder, sorted naturally by name (``2.png`` before ``10.png``)."""

    def __init__(self, folder: Path, fps: float = 10.0) -> None:
        self.folder = folder
        self.fps = fps
        self.files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
        if not self.files:
            raise SourceError(f"folder {folder} has no image files (looked for {sorted(IMAGE_SUFFIXES)})")

    def __iter__(self) -> Iterator[SourceItem]:
        yield StreamEvent("opened")
        for i, path in enumerate(self.files):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise SourceError(f"cannot decode image {path}")
            if image.ndim == 3 and image.shape[2] == 4:
                image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
            yield RawFrame(i, i / self.fps, image)
        yield StreamEvent("ended")


class VideoFileSource:
    """A video file; timestamps from the container (``CAP_PROP_POS_MSEC``), else index / fps."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = path
        self.fps_override = fps
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        ok = cap.isOpened()
        cap.release()
        if not ok:
            raise SourceError(f"cannot open video file {path} (not a video OpenCV/FFmpeg can read)")

    def __iter__(self) -> Iterator[SourceItem]:
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        fps = self.fps_override or cap.get(cv2.CAP_PROP_FPS) or 10.0
        yield StreamEvent("opened")
        i = 0
        try:
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                ts = i / fps if self.fps_override or pos <= 0 and i > 0 else pos
                yield RawFrame(i, ts, image)
                i += 1
        finally:
            cap.release()
        if i == 0:
            raise SourceError(f"video file {self.path} has no decodable frames")
        yield StreamEvent("ended")


class LiveSource:
    """RTSP/HTTP stream or webcam, with reconnect and exponential backoff."""

    def __init__(
        self,
        target: str | int,
        reconnect: Reconnect | None = None,
        *,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self.reconnect = reconnect or Reconnect()
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.sleep = sleep
        self.stopped = False

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.target, int):
            return cv2.VideoCapture(self.target)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)

    def _backoff(self, attempt: int) -> float:
        r = self.reconnect
        return min(r.max_s, r.initial_s * r.factor ** max(0, attempt - 1))

    def __iter__(self) -> Iterator[SourceItem]:
        index, attempt, was_open = 0, 0, False
        while not self.stopped:
            cap = self._open()
            if cap.isOpened():
                if not was_open:
                    yield StreamEvent("opened", attempt)
                elif attempt:
                    yield StreamEvent("restored", attempt)
                was_open, attempt = True, 0
                while not self.stopped:
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    yield RawFrame(index, time.time(), image)
                    index += 1
                cap.release()
                if self.stopped:
                    break
                attempt = 1
                yield StreamEvent("lost", 0, f"no frames from {_redact(self.target)}")
            else:
                cap.release()
                attempt += 1
            limit = self.reconnect.max_attempts
            if limit is not None and attempt > limit:
                if not was_open:
                    raise SourceError(f"cannot open stream {_redact(self.target)} after {limit} retries")
                yield StreamEvent("ended", attempt, "gave up reconnecting")
                return
            delay = self._backoff(attempt)
            log.info("stream reconnect", extra={"target": _redact(self.target), "attempt": attempt, "delay_s": delay})
            self.sleep(delay)

    def stop(self) -> None:
        self.stopped = True


class SimSource:
    """``sim:SEED``: the simulator's synthetic scene rendered live, paced to real time, forever.

    For demos and soak tests: a camera that never ends and has an anomaly every 8-14 s. Timestamps
    are seconds since the source opened, like a live stream's.
    """

    def __init__(self, seed: int, fps: float = 10.0, *, realtime: bool = True, frames: int | None = None) -> None:
        self.seed, self.fps, self.realtime, self.frames = seed, fps, realtime, frames
        self._stop = False

    def __iter__(self) -> Iterator[SourceItem]:
        from edge_agent.sim import Scene, SimConfig

        yield StreamEvent("opened")
        scene = Scene(SimConfig(seed=self.seed, fps=self.fps))
        started = time.monotonic()
        total = self.frames if self.frames is not None else 10**12
        for i, sim_frame in enumerate(scene.frames(total)):
            if self._stop:
                break
            if self.realtime:
                delay = started + i / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield RawFrame(i, sim_frame.ts, sim_frame.image)
        yield StreamEvent("ended")

    def stop(self) -> None:
        self._stop = True


def _redact(target: str | int) -> str:
    """Drop credentials from a URL before it is logged or reported."""
    return re.sub(r"//[^/@]*@", "//***@", str(target))


def open_source(
    spec: str, *, fps: float | None = None, reconnect: Reconnect | None = None
) -> FolderSource | VideoFileSource | LiveSource | SimSource:
    """Pick a source for ``spec``: ``webcam:N``, ``sim:SEED``, a stream URL, a folder of images or a video file."""
    if spec.startswith("sim:"):
        seed, _, pace = spec.split(":", 1)[1].partition(":")
        if not seed.isdigit() or pace not in ("", "asap"):
            raise SourceError(f"simulator source must be 'sim:SEED' (real time) or 'sim:SEED:asap' (as fast as "
                              f"the pipeline runs) with SEED a whole number; got {spec!r}")
        return SimSource(int(seed), fps or 10.0, realtime=pace != "asap")
    if spec.startswith("webcam:"):
        dev = spec.split(":", 1)[1]
        if not dev.isdigit():
            raise SourceError(f"webcam source must be 'webcam:N' with N a device number; got {spec!r}")
        return LiveSource(int(dev), reconnect)
    if STREAM_RE.match(spec):
        return LiveSource(spec, reconnect)
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path, fps or 10.0)
    if not path.exists():
        raise SourceError(f"source {spec!r} does not exist (expected a video file, a folder of frames, a stream URL or webcam:N)")
    return VideoFileSource(path, fps)
