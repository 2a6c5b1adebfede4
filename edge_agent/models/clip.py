"""CLIP-style vision-language plug-in: a user image-encoder ONNX + text-prompt embeddings.

Prompts file (``.json`` or ``.npz``): ``normal`` and ``abnormal`` embedding lists (each
``[n, D]``), optional ``normal_labels`` / ``abnormal_labels``. The frame embedding is compared
with every prompt (cosine, times ``logit_scale``, softmax); ``raw`` is the probability mass on
the abnormal prompts, and the evidence names the best abnormal prompt. The encoder input must
be ``[1, 3, H, W]``; its output ``[1, D]`` must match the prompts' D.
"""

from __future__ import annotations

import json
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

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)[:, None, None]
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)[:, None, None]


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def load_prompts(path: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    if not path.is_file():
        raise ModelFileError(f"prompt embeddings file {path} does not exist")
    try:
        if path.suffix == ".json":
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        else:
            data = dict(np.load(path, allow_pickle=False))
        normal = np.asarray(data["normal"], np.float32)
        abnormal = np.asarray(data["abnormal"], np.float32)
    except (KeyError, ValueError, OSError) as err:
        raise ModelFileError(f"prompt embeddings {path} must hold 'normal' and 'abnormal' arrays [n, D]: {err}") from err
    if normal.ndim != 2 or abnormal.ndim != 2 or normal.shape[1] != abnormal.shape[1] or not len(normal) or not len(abnormal):
        raise ModelFileError(f"prompt embeddings {path}: 'normal' {list(normal.shape)} and 'abnormal' "
                             f"{list(abnormal.shape)} must both be non-empty [n, D] with the same D")
    n_lab = [str(x) for x in data.get("normal_labels", [f"normal_{i}" for i in range(len(normal))])]
    a_lab = [str(x) for x in data.get("abnormal_labels", [f"abnormal_{i}" for i in range(len(abnormal))])]
    return _unit(normal), _unit(abnormal), n_lab, a_lab


@register
class ClipOnnx(AnomalyModel):
    type_key = "clip_onnx"
    capabilities = frozenset({Capability.VISION_LANGUAGE})
    votes = True
    needs_fit = False  # zero-shot; the bundle still calibrates it on the camera's normal footage

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        for key in ("encoder_path", "prompts_path"):
            if key not in params:
                raise ConfigError(f"clip_onnx needs {key}")
        self.encoder_path = Path(params["encoder_path"])
        self.prompts_path = Path(params["prompts_path"])
        self.logit_scale = param(params, "logit_scale", 100.0, float)
        self.every_n = max(1, param(params, "every_n", 1))  # run the encoder on every n-th frame
        self.session = onnx_session(self.encoder_path, params.get("runtime", "auto"))
        shape = check_input(self.session, self.encoder_path, [None, 3, None, None])
        self.in_h = shape[2] if isinstance(shape[2], int) else 224
        self.in_w = shape[3] if isinstance(shape[3], int) else 224
        self.input_name = self.session.get_inputs()[0].name
        normal, abnormal, n_lab, a_lab = load_prompts(self.prompts_path)
        self.prompts = np.concatenate([normal, abnormal])
        self.labels = n_lab + a_lab
        self.n_normal = len(normal)
        out_shape = self.session.get_outputs()[0].shape
        if isinstance(out_shape[-1], int) and out_shape[-1] != self.prompts.shape[1]:
            raise ModelFileError(f"ONNX encoder {self.encoder_path} outputs {out_shape[-1]}-d embeddings but "
                                 f"{self.prompts_path} holds {self.prompts.shape[1]}-d prompts")
        self._last: ModelScore | None = None
        self._count = 0

    def reset(self) -> None:
        self._last, self._count = None, 0

    def score(self, frame: Frame) -> ModelScore:
        self._count += 1
        if self._last is not None and (self._count - 1) % self.every_n:
            return self._last
        rgb = (cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2RGB) if frame.bgr is not None
               else cv2.cvtColor(frame.gray, cv2.COLOR_GRAY2RGB))
        x = cv2.resize(rgb, (self.in_w, self.in_h), interpolation=cv2.INTER_AREA).astype(np.float32).transpose(2, 0, 1) / 255.0
        x = ((x - CLIP_MEAN) / CLIP_STD)[None]
        emb = _unit(np.asarray(self.session.run(None, {self.input_name: x})[0], np.float32).reshape(-1))
        logits = self.logit_scale * (self.prompts @ emb)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        abnormal = p[self.n_normal:]
        best = int(np.argmax(abnormal))
        ev = (Evidence("feature", self.labels[self.n_normal + best], float(abnormal[best])),)
        self._last = ModelScore(raw=float(abnormal.sum()), evidence=ev)
        return self._last

    def save(self, directory: Path) -> dict[str, Any]:
        shutil.copyfile(self.encoder_path, directory / "encoder.onnx")
        shutil.copyfile(self.prompts_path, directory / f"prompts{self.prompts_path.suffix}")
        return {**self.params, "encoder_path": "encoder.onnx", "prompts_path": f"prompts{self.prompts_path.suffix}"}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        return cls(**{**params, "encoder_path": str(directory / params["encoder_path"]),
                      "prompts_path": str(directory / params["prompts_path"])})
