"""Frame sources: folders, video files, and a real HTTP MPEG-TS stream served by ffmpeg that
is killed and restarted (stream lost / restored, frame indices keep counting)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.config import Reconnect
from edge_agent.errors import SourceError
from edge_agent.pipeline.sources import FolderSource, LiveSource, RawFrame, StreamEvent, VideoFileSource, open_source
from edge_agent.sim import render, write_folder

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg not installed (CI: apt-get install -y ffmpeg)")
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_PACKAGES = "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi"


def _has_gst_rtsp() -> bool:
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_folder_frames_are_sorted_naturally_with_timestamps_from_fps(tmp_path):
    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((24, 32), i, np.uint8))
    items = list(open_source(str(tmp_path), fps=5.0))
    frames = [x for x in items if isinstance(x, RawFrame)]
    assert [int(f.image[0, 0]) for f in frames] == [1, 2, 10]
    assert [f.ts for f in frames] == [0.0, 0.2, 0.4]
    assert isinstance(items[0], StreamEvent) and items[0].status == "opened"
    assert isinstance(items[-1], StreamEvent) and items[-1].status == "ended"


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match=str(tmp_path)):
        FolderSource(tmp_path)


def test_missing_and_unreadable_sources_name_the_path(tmp_path):
    with pytest.raises(SourceError, match="nope.mp4"):
        open_source(str(tmp_path / "nope.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(SourceError, match="junk.mp4"):
        list(open_source(str(junk)))
    with pytest.raises(SourceError, match="webcam:N"):
        open_source("webcam:front")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    if FFMPEG is None:
        pytest.skip("ffmpeg not installed (CI: apt-get install -y ffmpeg)")
    d = tmp_path_factory.mktemp("clip")
    write_folder(d / "frames", render(60, seed=2, color=True))
    out = d / "clip.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-framerate", "10", "-i", str(d / "frames" / "%06d.png"),
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "5", str(out)], check=True)
    return out


@needs_ffmpeg
def test_video_file_gives_container_timestamps(clip):
    frames = [x for x in VideoFileSource(clip) if isinstance(x, RawFrame)]
    assert len(frames) == 60
    assert frames[0].image.shape == (240, 360, 3)
    assert np.allclose([f.ts for f in frames[:5]], [0.0, 0.1, 0.2, 0.3, 0.4], atol=0.011)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StreamServer:
    def __init__(self, clip: Path, port: int) -> None:
        self.clip, self.url = clip, f"http://127.0.0.1:{port}/cam.ts"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([FFMPEG or "ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(self.clip),
                                      "-c", "copy", "-f", "mpegts", "-listen", "1", self.url],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def server(clip) -> Iterator[StreamServer]:
    srv = StreamServer(clip, _free_port())
    srv.start()
    yield srv
    srv.kill()


@needs_ffmpeg
def test_http_stream_reconnects_after_the_server_restarts(server):
    src = LiveSource(server.url, Reconnect(initial_s=0.2, max_s=1.0, max_attempts=40), open_timeout_s=2, read_timeout_s=2)
    log: list[str] = []
    frames: list[RawFrame] = []
    for item in src:
        if isinstance(item, StreamEvent):
            log.append(item.status)
            if item.status == "lost":
                time.sleep(0.3)
                server.start()
            continue
        frames.append(item)
        if len(frames) == 8:
            server.kill()
        if "restored" in log and len(frames) >= 16:
            src.stop()
    assert log[:3] == ["opened", "lost", "restored"]
    assert [f.index for f in frames] == list(range(len(frames)))
    ts = [f.ts for f in frames]
    assert ts == sorted(ts) and abs(ts[0] - time.time()) < 60  # live sources stamp wall-clock capture time
    assert frames[-1].image.shape == (240, 360, 3)


@needs_ffmpeg
def test_stream_that_never_opens_gives_up_with_the_url_redacted():
    url = f"http://user:secret@127.0.0.1:{_free_port()}/cam.ts"
    slept: list[float] = []
    src = LiveSource(url, Reconnect(initial_s=0.1, max_s=0.4, factor=2.0, max_attempts=4), open_timeout_s=1,
                     sleep=slept.append)
    with pytest.raises(SourceError) as err:
        list(src)
    assert "secret" not in str(err.value) and "127.0.0.1" in str(err.value)
    assert slept == [0.1, 0.2, 0.4, 0.4]  # exponential backoff, capped


@needs_ffmpeg
def test_rtsp_stream_reconnects_after_the_server_restarts(clip):
    if not _has_gst_rtsp():
        pytest.skip(f"GStreamer RTSP server not installed (CI: apt-get install -y {RTSP_PACKAGES})")
    port = _free_port()
    script = Path(__file__).with_name("rtsp_server.py")

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen([SYSTEM_PYTHON, str(script), str(clip), str(port)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    proc = start()
    try:
        src = LiveSource(f"rtsp://127.0.0.1:{port}/cam", Reconnect(initial_s=0.2, max_s=1.0, max_attempts=30),
                         open_timeout_s=3, read_timeout_s=3)
        log: list[str] = []
        frames: list[RawFrame] = []
        for item in src:
            if isinstance(item, StreamEvent):
                log.append(item.status)
                if item.status == "lost" and proc.poll() is not None:
                    proc = start()
                continue
            frames.append(item)
            if len(frames) == 10:
                proc.kill()
                proc.wait()
            if "restored" in log and len(frames) >= 20:
                src.stop()
        assert log[:3] == ["opened", "lost", "restored"]
        assert [f.index for f in frames] == list(range(len(frames)))
    finally:
        proc.kill()
        proc.wait()
