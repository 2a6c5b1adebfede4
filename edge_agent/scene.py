"""Scene reference image: a camera's empty background, the only image that ever leaves the site.

On request (the signed config's ``scene_image_requested_at`` for a camera, and only when the
site's ``scene_images_allowed`` is true) the camera's frames feed a :class:`SceneMedian`: a ring
of ``samples`` frames taken evenly over ``span_s`` seconds (default 3 minutes). Its per-pixel
median keeps what is there most of the time, so people and cars passing by vanish. Before
encoding, every face the OpenCV Haar cascade finds (``cv2.data.haarcascades``, shipped in the
wheel: nothing is downloaded) is blurred beyond recognition and privacy masks are filled grey;
then the image is JPEG-encoded and uploaded once (``POST /edge/cameras/<id>/scene-image``).

Pieces (each testable alone): :class:`SceneMedian`, :func:`detect_faces`, :func:`blur_regions`,
:func:`encode_jpeg`, :func:`scene_jpeg`; :class:`SceneCapture` is one camera's job and
:class:`SceneImages` the agent-wide tap the runner calls with every frame.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, w, h in pixels
FaceDetector = Callable[[np.ndarray], Sequence[Box]]
Upload = Callable[[str, bytes], None]  # (camera id, JPEG bytes)

DEFAULT_SPAN_S = float(os.environ.get("VAD_SCENE_SPAN_S", "180"))  # the median covers this many seconds
DEFAULT_SAMPLES = 25
MAX_JPEG_BYTES = 1024 * 1024  # the cloud refuses larger uploads
HAAR_FILE = "haarcascade_frontalface_default.xml"


class SceneMedian:
    """A running temporal median: up to ``samples`` frames, one kept every ``span_s / samples``
    seconds (by the frames' own timestamps); :attr:`ready` once they cover ``span_s``."""

    def __init__(self, *, span_s: float = DEFAULT_SPAN_S, samples: int = DEFAULT_SAMPLES) -> None:
        if span_s <= 0 or samples < 3:
            raise ValueError(f"a scene median needs span_s > 0 and samples >= 3, got {span_s} s, {samples}")
        self.span_s, self.samples = float(span_s), int(samples)
        self.interval = self.span_s / self.samples
        self.frames: deque[np.ndarray] = deque(maxlen=self.samples)
        self.last_kept: float | None = None

    def offer(self, image: np.ndarray, ts: float) -> bool:
        """Keep ``image`` if it is due (a copy: the caller may reuse its buffer). True if kept."""
        if self.frames and image.shape != self.frames[-1].shape:
            self.frames.clear()  # the stream changed resolution: start again
        if self.last_kept is not None and self.frames and ts - self.last_kept < self.interval:
            return False
        self.frames.append(np.array(image, dtype=np.uint8, copy=True))
        self.last_kept = ts
        return True

    @property
    def ready(self) -> bool:
        """All samples taken: they are at least ``interval`` apart, so they cover the span."""
        return len(self.frames) == self.samples

    def median(self) -> np.ndarray:
        if not self.frames:
            raise ValueError("no frames yet")
        return np.median(np.stack(self.frames), axis=0).round().astype(np.uint8)


_cascade: Any = None
_cascade_lock = threading.Lock()


def _haar() -> Any:
    global _cascade
    with _cascade_lock:
        if _cascade is None:
            path = os.path.join(cv2.data.haarcascades, HAAR_FILE)
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise RuntimeError(f"OpenCV's face cascade {path} could not be loaded; reinstall opencv")
            _cascade = cascade
        return _cascade


def detect_faces(image: np.ndarray) -> list[Box]:
    """Frontal faces found by OpenCV's bundled Haar cascade (x, y, w, h)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    found = _haar().detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=4, minSize=(16, 16))
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in (found if len(found) else [])]


def blur_regions(image: np.ndarray, boxes: Iterable[Box], *, margin: float = 0.25) -> np.ndarray:
    """A copy of ``image`` with each box (grown by ``margin`` of its size) pixelated to 4x4 blocks
    and then blurred: no face detail survives, the scene around it is untouched."""
    out = image.copy()
    height, width = out.shape[:2]
    for x, y, w, h in boxes:
        dx, dy = int(w * margin), int(h * margin)
        x0, y0 = max(0, x - dx), max(0, y - dy)
        x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        roi = out[y0:y1, x0:x1]
        small = cv2.resize(roi, (4, 4), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        k = max(3, (max(x1 - x0, y1 - y0) // 2) | 1)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out


def fill_masks(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Privacy-masked pixels (``mask`` True) painted mid-grey."""
    if mask is None or not mask.any():
        return image
    out = image.copy()
    out[mask] = 128
    return out


def encode_jpeg(image: np.ndarray, *, quality: int = 85) -> bytes:
    """JPEG bytes; a frame too large for the upload cap is encoded again at lower quality."""
    data = b""
    for q in range(int(quality), 9, -15):
        ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), q])
        if not ok:
            raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}")
        data = buf.tobytes()
        if len(data) <= MAX_JPEG_BYTES:
            break
    return data


def scene_jpeg(background: np.ndarray, *, detector: FaceDetector = detect_faces,
               privacy_mask: np.ndarray | None = None) -> bytes:
    """The upload: masks filled, faces blurred, JPEG."""
    image = fill_masks(background, privacy_mask)
    return encode_jpeg(blur_regions(image, detector(image)))


class SceneCapture:
    """One camera's scene-image job: :meth:`request` starts it (a newer ``requested_at`` than the
    last handled one), :meth:`feed` collects frames and uploads once the median is ready."""

    def __init__(self, camera_id: str, upload: Upload, *, span_s: float = DEFAULT_SPAN_S,
                 samples: int = DEFAULT_SAMPLES, detector: FaceDetector = detect_faces,
                 privacy_masks: Sequence[Sequence[tuple[float, float]]] = (), threaded: bool = False) -> None:
        self.camera_id, self.upload, self.detector = camera_id, upload, detector
        self.threaded = threaded  # finish (median, blur, encode, upload) off the camera's thread
        self.worker: threading.Thread | None = None
        self.privacy_masks = [list(p) for p in privacy_masks]  # normalised polygons, filled grey
        self.span_s, self.samples = span_s, samples
        self.handled: float | None = None  # requested_at of the last finished job
        self.pending: float | None = None
        self.median: SceneMedian | None = None
        self.uploads = 0

    def request(self, requested_at: float) -> bool:
        """Start a capture for ``requested_at`` unless it is the one running or already done."""
        if requested_at == self.pending or (self.handled is not None and requested_at <= self.handled):
            return False
        self.pending, self.median = requested_at, SceneMedian(span_s=self.span_s, samples=self.samples)
        log.info("scene capture started", extra={"camera_id": self.camera_id, "span_s": self.span_s})
        return True

    def _mask(self, width: int, height: int) -> np.ndarray | None:
        if not self.privacy_masks:
            return None
        mask = np.zeros((height, width), np.uint8)
        for points in self.privacy_masks:
            pts = np.array([[x * width, y * height] for x, y in points], np.float32)
            cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
        return mask.astype(bool)

    def cancel(self) -> None:
        self.pending = self.median = None

    def feed(self, image: np.ndarray, ts: float) -> bool:
        """Offer one frame; True when this frame completed the collection (the upload follows, on
        a thread of its own when ``threaded``)."""
        median = self.median
        if median is None:
            return False
        median.offer(image, ts)
        if not median.ready:
            return False
        self.handled, self.pending, self.median = self.pending, None, None
        if self.threaded:
            self.worker = threading.Thread(target=self._finish, args=(median,), name=f"scene-{self.camera_id}",
                                           daemon=True)
            self.worker.start()
        else:
            self._finish(median)
        return True

    def _finish(self, median: SceneMedian) -> None:
        try:
            background = median.median()
            self.upload(self.camera_id, scene_jpeg(background, detector=self.detector,
                                                   privacy_mask=self._mask(background.shape[1], background.shape[0])))
            self.uploads += 1
            log.info("scene image uploaded", extra={"camera_id": self.camera_id})
        except Exception as err:  # noqa: BLE001 - process edge: a failed upload never stops the camera
            log.error("scene image upload failed", exc_info=True,
                      extra={"camera_id": self.camera_id, "detail": str(err)[:300]})


class SceneImages:
    """The agent-wide frame tap: reads the requests from the kept signed config (``config()``,
    checked at most every ``poll_s``) and feeds each requested camera's :class:`SceneCapture`.

    A site whose ``scene_images_allowed`` is false gets no capture, whatever the camera asks."""

    def __init__(self, upload: Upload, config: Callable[[], Any], *, span_s: float = DEFAULT_SPAN_S,
                 samples: int = DEFAULT_SAMPLES, detector: FaceDetector = detect_faces, poll_s: float = 1.0) -> None:
        self.upload, self.config, self.poll_s = upload, config, poll_s
        self.span_s, self.samples, self.detector = span_s, samples, detector
        self.captures: dict[str, SceneCapture] = {}
        self._lock = threading.Lock()
        self._checked = float("-inf")

    @staticmethod
    def requests_of(config: Any) -> Mapping[str, tuple[float, list[list[tuple[float, float]]]]]:
        """camera id -> (requested_at, privacy mask polygons) from a DeviceConfig; empty unless
        the site allows scene images."""
        if config is None or not getattr(config.site, "scene_images_allowed", False):
            return {}
        return {c.id: (float(c.scene_image_requested_at),
                       [[tuple(p) for p in z.points] for z in c.zones if z.kind == "privacy_mask"])
                for c in config.cameras if getattr(c, "scene_image_requested_at", None) is not None}

    def refresh(self) -> None:
        requests = self.requests_of(self.config())
        with self._lock:
            for camera_id, capture in self.captures.items():
                if camera_id not in requests:
                    capture.cancel()  # no longer asked for (or no longer allowed)
            for camera_id, (at, masks) in requests.items():
                capture = self.captures.get(camera_id)
                if capture is None:
                    capture = self.captures[camera_id] = SceneCapture(
                        camera_id, self.upload, span_s=self.span_s, samples=self.samples, detector=self.detector,
                        threaded=True)
                capture.privacy_masks = masks
                capture.request(at)

    def __call__(self, camera_id: str, image: np.ndarray, ts: float) -> None:
        """The runner's frame tap (camera threads): never raises into the camera loop."""
        try:
            now = time.monotonic()
            if now - self._checked >= self.poll_s:
                self._checked = now
                self.refresh()
            capture = self.captures.get(camera_id)
            if capture is not None:
                capture.feed(image, ts)
        except Exception:  # noqa: BLE001 - process edge: the scene image must never stop a camera
            log.error("scene capture failed", exc_info=True, extra={"camera_id": camera_id})


__all__ = ["SceneCapture", "SceneImages", "SceneMedian", "blur_regions", "detect_faces", "encode_jpeg",
           "fill_masks", "scene_jpeg"]
