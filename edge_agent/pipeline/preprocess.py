"""Preprocess: resize, then ROI and privacy masks, then optional face blurring.

Masked pixels are zeroed in every channel *before* any model sees the frame, and ``Frame.valid``
marks them False. Faces are blurred after masking (the detector only sees unmasked pixels).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge_agent.config import CameraConfig, Polygon
from edge_agent.models.base import Frame
from edge_agent.pipeline.sources import RawFrame


def polygon_mask(polygons: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """Boolean HxW mask, True inside any polygon (normalised coordinates)."""
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        pts = np.array([[x * width, y * height] for x, y in poly.points], np.float32)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def valid_mask(cfg: CameraConfig, width: int, height: int) -> np.ndarray | None:
    """True where pixels may be analysed: inside the ROI (if any) and outside every privacy mask."""
    if not cfg.roi and not cfg.privacy_masks:
        return None
    valid = polygon_mask(cfg.roi, width, height) if cfg.roi else np.ones((height, width), bool)
    if cfg.privacy_masks:
        valid &= ~polygon_mask(cfg.privacy_masks, width, height)
    return valid


class FaceBlur:
    """Blur faces found by a face-detection model (capability ``face_detection``)."""

    def __init__(self, detector: object) -> None:
        self.detector = detector

    def __call__(self, gray: np.ndarray, bgr: np.ndarray | None) -> None:
        boxes = self.detector.detect(gray)  # type: ignore[attr-defined]
        for x, y, w, h in boxes:
            for img in (gray, bgr):
                if img is None:
                    continue
                roi = img[y:y + h, x:x + w]
                k = max(3, (max(w, h) // 3) | 1)
                img[y:y + h, x:x + w] = cv2.GaussianBlur(roi, (k, k), 0)


class Preprocess:
    """RawFrame -> Frame: resize, mask, (blur faces)."""

    def __init__(self, cfg: CameraConfig, face_blur: FaceBlur | None = None) -> None:
        self.width, self.height = cfg.resize
        self.color = cfg.color
        self.valid = valid_mask(cfg, self.width, self.height)
        if self.valid is not None:
            self.valid.setflags(write=False)  # shared by every frame: models must not edit it
        self.invalid = None if self.valid is None else ~self.valid
        self.face_blur = face_blur

    def __call__(self, raw: RawFrame) -> Frame:
        img = raw.image
        if img.dtype != np.uint8:
            lo, hi = float(img.min()), float(img.max())
            img = ((img - lo) * (255.0 / max(hi - lo, 1e-12))).astype(np.uint8)
        if img.shape[1] != self.width or img.shape[0] != self.height:
            img = cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_AREA)
        if img.ndim == 2:
            gray, bgr = img.copy(), (cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if self.color else None)
        else:
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            bgr = img.copy() if self.color else None
        if self.invalid is not None:
            gray[self.invalid] = 0
            if bgr is not None:
                bgr[self.invalid] = 0
        if self.face_blur is not None:
            self.face_blur(gray, bgr)
            if self.invalid is not None:  # blurring must not spread pixels into masked areas
                gray[self.invalid] = 0
                if bgr is not None:
                    bgr[self.invalid] = 0
        return Frame(index=raw.index, ts=raw.ts, gray=gray, bgr=bgr, valid=self.valid)
