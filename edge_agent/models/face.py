"""Faces: Haar-cascade detection for privacy blurring, and an opt-in face-recognition plug-in.

* ``face_haar`` (capability ``face_detection``) uses the frontal-face cascade shipped in
  ``cv2.data``; the preprocess stage calls :meth:`FaceHaar.detect` to blur faces.
* ``face_recognition_onnx`` (capability ``biometric_identification``) embeds detected faces with a
  user-supplied ONNX model and compares them with a watch-list. Biometric capabilities are off
  unless the policy's ``allowed_biometric`` lists them; the registry refuses it otherwise.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent._compat import Self
from edge_agent.errors import ConfigError, ModelFileError
from edge_agent.models.base import AnomalyModel, Capability, Evidence, Frame, ModelScore, param
from edge_agent.models.registry import register
from edge_agent.models.runtimes import check_input, onnx_session

CASCADE = "haarcascade_frontalface_default.xml"


def _cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / CASCADE  # type: ignore[attr-defined]
    clf = cv2.CascadeClassifier(str(path))
    if clf.empty():
        raise ModelFileError(f"cannot load the Haar cascade {path} shipped with OpenCV")
    return clf


@register
class FaceHaar(AnomalyModel):
    type_key = "face_haar"
    capabilities = frozenset({Capability.FACE_DETECTION})
    votes = False
    needs_fit = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.scale_factor = param(params, "scale_factor", 1.2, float)
        self.min_neighbors = param(params, "min_neighbors", 4)
        self.min_size = param(params, "min_size", 16)
        self.cascade = _cascade()

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        found = self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                              minSize=(self.min_size, self.min_size))
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in np.asarray(found).reshape(-1, 4)]

    def score(self, frame: Frame) -> ModelScore:
        boxes = self.detect(frame.gray)
        return ModelScore(raw=float(len(boxes)), boxes=tuple(boxes))


@register
class FaceRecognitionOnnx(AnomalyModel):
    """Embeds Haar-detected faces with a user ONNX (input ``[1, C, H, W]``) and matches a watch-list."""

    type_key = "face_recognition_onnx"
    capabilities = frozenset({Capability.FACE_DETECTION, Capability.BIOMETRIC_IDENTIFICATION})
    votes = False
    needs_fit = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if "model_path" not in params:
            raise ConfigError("face_recognition_onnx needs model_path (an embedding ONNX file)")
        self.model_path = Path(params["model_path"])
        self.session = onnx_session(self.model_path, params.get("runtime", "auto"))
        shape = check_input(self.session, self.model_path, [None, None, None, None])
        if shape[1] not in (1, 3) and not isinstance(shape[1], str):
            raise ModelFileError(f"ONNX model {self.model_path}: input channels {shape[1]}; expected 1 or 3")
        self.channels = shape[1] if isinstance(shape[1], int) else 3
        self.in_h = shape[2] if isinstance(shape[2], int) else 112
        self.in_w = shape[3] if isinstance(shape[3], int) else 112
        self.input_name = self.session.get_inputs()[0].name
        wl = params.get("watchlist_path")
        self.watchlist_path = Path(wl) if wl else None
        self.watchlist = np.zeros((0, 1), np.float32)
        if self.watchlist_path is not None:
            if not self.watchlist_path.is_file():
                raise ModelFileError(f"watch-list file {self.watchlist_path} does not exist")
            w = np.load(self.watchlist_path, allow_pickle=False).astype(np.float32)
            self.watchlist = w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
        self.detector = FaceHaar()

    def score(self, frame: Frame) -> ModelScore:
        best, ev, boxes = 0.0, [], []
        for x, y, w, h in self.detector.detect(frame.gray):
            crop = frame.gray[y:y + h, x:x + w] if self.channels == 1 or frame.bgr is None else frame.bgr[y:y + h, x:x + w]
            crop = cv2.resize(crop, (self.in_w, self.in_h)).astype(np.float32) / 255.0
            if self.channels == 3 and crop.ndim == 2:
                crop = np.repeat(crop[..., None], 3, axis=2)
            blob = crop[None, None] if self.channels == 1 else crop.transpose(2, 0, 1)[None]
            emb = np.asarray(self.session.run(None, {self.input_name: blob})[0], np.float32).reshape(-1)
            emb /= max(float(np.linalg.norm(emb)), 1e-12)
            sim = float((self.watchlist @ emb).max()) if len(self.watchlist) and self.watchlist.shape[1] == emb.size else 0.0
            best = max(best, sim)
            boxes.append((x, y, w, h))
            ev.append(Evidence("box", "watchlist_match", sim, (x, y, w, h)))
        ev.sort(key=lambda e: -e.value)
        return ModelScore(raw=best, evidence=tuple(ev), boxes=tuple(boxes))

    def save(self, directory: Path) -> dict[str, Any]:
        shutil.copyfile(self.model_path, directory / "model.onnx")
        out = {**self.params, "model_path": "model.onnx"}
        if self.watchlist_path is not None:
            shutil.copyfile(self.watchlist_path, directory / "watchlist.npy")
            out["watchlist_path"] = "watchlist.npy"
        return out

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        p = {**params, "model_path": str(directory / params["model_path"])}
        if params.get("watchlist_path"):
            p["watchlist_path"] = str(directory / params["watchlist_path"])
        return cls(**p)
