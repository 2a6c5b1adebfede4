"""Person detection plug-ins: OpenCV HOG (default) and a user-supplied YOLO-family ONNX model.

Both are detectors, not anomaly scorers: ``votes = False``, no fitting. ``raw`` is the best
person confidence in the frame; ``boxes`` are the people found (pixels of the preprocessed frame).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent._compat import Self
from edge_agent.errors import ConfigError
from edge_agent.models.base import AnomalyModel, Capability, Evidence, Frame, ModelScore, param
from edge_agent.models.registry import register
from edge_agent.models.runtimes import check_input, onnx_session

Box = tuple[int, int, int, int]


def _score(boxes: list[Box], conf: list[float], label: str) -> ModelScore:
    order: list[int] = [int(i) for i in np.argsort(conf)[::-1]] if conf else []
    ev = tuple(Evidence("box", label, float(conf[i]), tuple(float(v) for v in boxes[i])) for i in order)
    return ModelScore(raw=float(max(conf, default=0.0)), evidence=ev, boxes=tuple(boxes[i] for i in order))


@register
class HogPerson(AnomalyModel):
    type_key = "hog_person"
    capabilities = frozenset({Capability.PERSON_DETECTION})
    votes = False
    needs_fit = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.hit_threshold = param(params, "hit_threshold", 0.0, float)
        self.stride = param(params, "stride", 8)
        self.upscale = param(params, "upscale", 1.0, float)
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))

    def score(self, frame: Frame) -> ModelScore:
        img = frame.gray if self.upscale == 1.0 else cv2.resize(frame.gray, None, fx=self.upscale, fy=self.upscale)
        rects, weights = self.hog.detectMultiScale(img, hitThreshold=self.hit_threshold,
                                                   winStride=(self.stride, self.stride), padding=(8, 8), scale=1.05)
        s = 1.0 / self.upscale
        boxes = [(int(x * s), int(y * s), int(w * s), int(h * s)) for x, y, w, h in np.asarray(rects).reshape(-1, 4)]
        return _score(boxes, [float(w) for w in np.asarray(weights).ravel()], "person")


@register
class YoloOnnx(AnomalyModel):
    """YOLO-family detector (v5 ``[1, N, 5+C]`` or v8 ``[1, 4+C, N]`` output) from a user ONNX file.

    The input must be ``[1, 3, H, W]`` (float, RGB 0..1); a different shape is refused with the
    file name and both shapes. The file is copied into the bundle on ``save``.
    """

    type_key = "yolo_onnx"
    capabilities = frozenset({Capability.PERSON_DETECTION, Capability.OBJECTS})
    votes = False
    needs_fit = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if "model_path" not in params:
            raise ConfigError("yolo_onnx needs model_path (a YOLO ONNX file)")
        self.model_path = Path(params["model_path"])
        self.person_class = param(params, "person_class", 0)
        self.conf_threshold = param(params, "conf_threshold", 0.4, float)
        self.nms_iou = param(params, "nms_iou", 0.45, float)
        self.session = onnx_session(self.model_path, params.get("runtime", "auto"))
        shape = check_input(self.session, self.model_path, [None, 3, None, None])
        if isinstance(shape[0], int) and shape[0] != 1:
            check_input(self.session, self.model_path, [1, 3, None, None])
        self.in_h = shape[2] if isinstance(shape[2], int) else 640
        self.in_w = shape[3] if isinstance(shape[3], int) else 640
        self.input_name = self.session.get_inputs()[0].name

    def _decode(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pred = out[0] if out.ndim == 3 else out
        if pred.shape[0] < pred.shape[1] and pred.shape[0] >= 5:  # v8: [4+C, N]
            pred = pred.T
            xywh, cls_scores = pred[:, :4], pred[:, 4:]
        else:  # v5: [N, 5+C] with objectness
            xywh, cls_scores = pred[:, :4], pred[:, 5:] * pred[:, 4:5]
        if cls_scores.shape[1] == 0:
            cls_scores = pred[:, 4:5]
        return xywh, cls_scores.argmax(1), cls_scores.max(1)

    def score(self, frame: Frame) -> ModelScore:
        h, w = frame.gray.shape
        rgb = (cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2RGB) if frame.bgr is not None
               else cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2RGB))
        blob = cv2.resize(rgb, (self.in_w, self.in_h)).astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        out = np.asarray(self.session.run(None, {self.input_name: blob})[0], np.float32)
        xywh, cls, conf = self._decode(out)
        keep = (cls == self.person_class) & (conf >= self.conf_threshold)
        sx, sy = w / self.in_w, h / self.in_h
        boxes = [(int((cx - bw / 2) * sx), int((cy - bh / 2) * sy), int(bw * sx), int(bh * sy)) for cx, cy, bw, bh in xywh[keep]]
        scores = [float(c) for c in conf[keep]]
        idx = cv2.dnn.NMSBoxes(boxes, scores, self.conf_threshold, self.nms_iou) if boxes else []
        idx = [int(i) for i in np.asarray(idx).ravel()]
        return _score([boxes[i] for i in idx], [scores[i] for i in idx], "person")

    def save(self, directory: Path) -> dict[str, Any]:
        shutil.copyfile(self.model_path, directory / "model.onnx")
        return {**self.params, "model_path": "model.onnx"}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        return cls(**{**params, "model_path": str(directory / params["model_path"])})
