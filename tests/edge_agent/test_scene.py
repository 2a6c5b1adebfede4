"""Scene reference image on the edge: the temporal median drops passers-by, faces are blurred
before encoding, a request is captured and uploaded once, a site that does not allow it gets none.

Face *detection* on a real face is not tested here (no face photo ships with the repository or
its data); the cascade is checked to load and to find nothing in a face-free scene, and the blur
is tested on the regions a detector returns."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from edge_agent.pipeline.runner import Runner
from edge_agent.scene import (
    SceneCapture,
    SceneImages,
    SceneMedian,
    blur_regions,
    detect_faces,
    encode_jpeg,
    scene_jpeg,
)
from edge_agent.signedconfig import DeviceConfig

H, W = 96, 128


def background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(30, 220, size=(H, W, 3), dtype=np.uint8)


def with_walker(bg: np.ndarray, i: int, n: int) -> np.ndarray:
    """The background with a white 20x20 'person' at a position that moves on every frame."""
    frame = bg.copy()
    x = int((W - 20) * i / max(1, n - 1))
    frame[30:50, x:x + 20] = 255
    return frame


def textured(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    checker = (((yy // 4) + (xx // 4)) % 2 * 255).astype(np.uint8)
    return cv2.cvtColor(checker, cv2.COLOR_GRAY2BGR)


def test_median_of_frames_spread_over_the_span_removes_a_moving_object():
    bg = background()
    median = SceneMedian(span_s=10.0, samples=9)
    n = 100
    for i in range(n):  # 10 fps for 10 s; one frame kept every 10/9 s
        median.offer(with_walker(bg, i, n), ts=i * 0.1)
    assert median.ready
    assert len(median.frames) == 9
    out = median.median()
    assert np.abs(out.astype(int) - bg.astype(int)).max() == 0  # the walker is gone, the scene exact
    single = median.frames[4]
    assert (single[30:50] == 255).all(axis=2).sum() == 400  # each kept frame did show the walker


def test_median_keeps_frames_apart_and_is_not_ready_early():
    median = SceneMedian(span_s=6.0, samples=4)  # one every 1.5 s
    kept = [median.offer(background(), ts=t) for t in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.4)]
    assert kept == [True, False, False, True, False, True, False]
    assert not median.ready
    assert median.offer(background(), ts=4.5) and median.ready
    with pytest.raises(ValueError, match="samples >= 3"):
        SceneMedian(span_s=1.0, samples=2)


def test_blur_removes_the_detail_inside_the_box_and_nothing_outside():
    image = textured()
    out = blur_regions(image, [(20, 20, 16, 16)], margin=0.25)
    inside, before = out[22:34, 22:34].astype(float), image[22:34, 22:34].astype(float)
    assert before.std() > 100 and inside.std() < 0.2 * before.std()
    assert (out[:12] == image[:12]).all() and (out[:, 44:] == image[:, 44:]).all()


def test_faces_are_blurred_before_encoding():
    image = textured(96)
    box = (30, 30, 24, 24)
    plain = cv2.imdecode(np.frombuffer(scene_jpeg(image, detector=lambda img: []), np.uint8), cv2.IMREAD_COLOR)
    blurred = cv2.imdecode(np.frombuffer(scene_jpeg(image, detector=lambda img: [box]), np.uint8),
                           cv2.IMREAD_COLOR)
    face = (slice(32, 52), slice(32, 52))
    assert plain[face].astype(float).std() > 80  # JPEG keeps the texture where no face was found
    assert blurred[face].astype(float).std() < 0.2 * plain[face].astype(float).std()
    assert np.abs(blurred[:20].astype(int) - plain[:20].astype(int)).mean() < 3  # elsewhere the same


def test_privacy_masks_are_filled_grey_in_the_upload():
    image = textured(96)
    mask = np.zeros((96, 96), bool)
    mask[:, :48] = True
    out = cv2.imdecode(np.frombuffer(scene_jpeg(image, detector=lambda img: [], privacy_mask=mask), np.uint8),
                       cv2.IMREAD_COLOR)
    assert np.abs(out[:, :40].astype(int) - 128).max() <= 4
    assert out[:, 56:].astype(float).std() > 80


def test_bundled_haar_cascade_loads_and_finds_no_face_in_a_face_free_scene():
    assert detect_faces(background()) == []
    assert detect_faces(cv2.cvtColor(background(), cv2.COLOR_BGR2GRAY)) == []


def test_jpeg_is_a_jpeg():
    data = encode_jpeg(background())
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9"
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (H, W, 3)


def test_capture_uploads_once_per_request_and_again_for_a_newer_one():
    uploads: list[tuple[str, bytes]] = []
    capture = SceneCapture("7", lambda cam, jpeg: uploads.append((cam, jpeg)), span_s=2.0, samples=4,
                           detector=lambda img: [])
    bg = background(3)
    assert not capture.feed(bg, 0.0)  # nothing asked: frames are ignored
    assert capture.request(1000.0)
    done = [capture.feed(with_walker(bg, i, 40), i * 0.1) for i in range(40)]
    assert done.count(True) == 1 and len(uploads) == 1
    cam, jpeg = uploads[0]
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert cam == "7" and decoded.shape == bg.shape
    assert not capture.request(1000.0)  # the same request again: already done
    assert not any(capture.feed(bg, 10 + i * 0.1) for i in range(40))
    assert capture.request(2000.0)
    assert any(capture.feed(bg, 20 + i * 0.1) for i in range(40)) and len(uploads) == 2


def test_a_failing_upload_is_logged_and_does_not_raise(caplog):  # noqa: ANN001
    def refuse(cam: str, jpeg: bytes) -> None:
        raise OSError("cloud unreachable")

    capture = SceneCapture("7", refuse, span_s=1.0, samples=3, detector=lambda img: [])
    capture.request(1.0)
    assert any(capture.feed(background(), i * 0.5) for i in range(5))
    assert "scene image upload failed" in caplog.text


def device_config(*, allowed: bool, requested: float | None) -> DeviceConfig:
    return DeviceConfig.model_validate({
        "schema": 1, "device_id": 1, "shifts": [], "model_bundles": [],
        "privacy_policy": {"jurisdiction": "DE", "forbidden_capabilities": []},
        "site": {"id": "1", "name": "HQ", "timezone": "UTC", "jurisdiction": "DE", "scene_images_allowed": allowed},
        "cameras": [{"id": "5", "name": "Door", "stream_url": "rtsp://x/y", "width": W, "height": H, "fps": 10,
                     "scene_class": "indoor", "enabled": True, "scene_image_requested_at": requested,
                     "zones": [{"kind": "privacy_mask", "name": "window", "points": [[0, 0], [0.5, 0], [0.5, 1],
                                                                                      [0, 1]]}]}],
    })


@pytest.mark.parametrize(("allowed", "requested", "expected"), [(True, 1_790_000_000.0, 1), (False, 1_790_000_000.0, 0),
                                                                 (True, None, 0)])
def test_scene_images_follow_the_signed_config_and_the_site_setting(allowed, requested, expected):  # noqa: ANN001
    uploads: list[bytes] = []
    config = device_config(allowed=allowed, requested=requested)
    tap = SceneImages(lambda cam, jpeg: uploads.append(jpeg), lambda: config, span_s=1.0, samples=3,
                      detector=lambda img: [], poll_s=0.0)
    for i in range(20):
        tap("5", textured(W)[:H], i * 0.2)
    for capture in tap.captures.values():
        if capture.worker is not None:
            capture.worker.join(timeout=10)
    assert len(uploads) == expected
    if expected:
        image = cv2.imdecode(np.frombuffer(uploads[0], np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(image[:, : W // 2 - 8].astype(int) - 128).max() <= 4  # the privacy mask is grey


def test_runner_feeds_each_cameras_raw_frames_to_the_tap(tmp_path):  # noqa: ANN001
    from edge_agent.config import AgentConfig, CameraConfig

    frames = tmp_path / "frames"
    frames.mkdir()
    bg = background(5)
    for i in range(30):
        cv2.imwrite(str(frames / f"{i}.png"), with_walker(bg, i, 30))
    uploads: list[bytes] = []
    done = threading.Event()

    def upload(cam: str, jpeg: bytes) -> None:
        uploads.append(jpeg)
        done.set()

    capture = SceneCapture("cam", upload, span_s=2.0, samples=5, detector=lambda img: [])
    capture.request(1.0)
    agent = AgentConfig(cameras=[CameraConfig(id="cam", source=str(frames), fps=10.0, models=[{"type": "zone_rules"}])])
    messages: list = []
    runner = Runner(agent, messages.append)
    runner.set_frame_tap(lambda cam, image, ts: capture.feed(image, ts) and None)
    runner.run(heartbeat_s=60.0, timeout_s=30.0)
    assert done.is_set() and len(uploads) == 1, messages
    image = cv2.imdecode(np.frombuffer(uploads[0], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == bg.shape
    empty = cv2.imdecode(np.frombuffer(encode_jpeg(bg), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(image.astype(int) - empty.astype(int)).max() == 0  # the empty scene: no walker left
