"""Helpers for edge-agent tests: a tiny registered motion model, simulator frames, tiny ONNX files.

Nothing here touches the database; models are built in the test (no downloads).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pytest

from edge_agent.models.base import AnomalyModel, Capability, Evidence, Frame, ModelScore, ProgressFn
from edge_agent.models.registry import register
from edge_agent.pipeline.sources import RawFrame
from edge_agent.sim import SimFrame, render


@register
class CellMotion(AnomalyModel):
    """Test model: largest per-cell mean absolute frame difference (z-scored on normal footage)."""

    type_key = "test_cell_motion"
    capabilities = frozenset({Capability.MOTION})

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.cell = int(params.get("cell", 24))
        self.mean = float(params.get("mean", 0.0))
        self.std = float(params.get("std", 1.0))
        self.prev: np.ndarray | None = None

    def _energy(self, gray: np.ndarray) -> tuple[float, tuple[int, int]]:
        if self.prev is None:
            self.prev = gray
            return 0.0, (0, 0)
        d = np.abs(gray.astype(np.int16) - self.prev.astype(np.int16)).astype(np.float32)
        self.prev = gray
        h, w = d.shape
        c = self.cell
        grid = d[: h // c * c, : w // c * c].reshape(h // c, c, w // c, c).mean(axis=(1, 3))
        r, col = np.unravel_index(int(grid.argmax()), grid.shape)
        return float(grid.max()), (int(r), int(col))

    def fit(self, clips: Sequence[Iterable[Frame]], *, progress: ProgressFn | None = None) -> None:
        values = []
        for clip in clips:
            self.reset()
            for f in clip:
                values.append(self._energy(f.gray)[0])
                if progress:
                    progress(1)
        self.reset()
        self.mean, self.std = float(np.mean(values)), float(np.std(values) + 1e-6)
        self.params.update(mean=self.mean, std=self.std)

    def reset(self) -> None:
        self.prev = None

    def score(self, frame: Frame) -> ModelScore:
        e, (r, c) = self._energy(frame.gray)
        z = (e - self.mean) / self.std
        box = (c * self.cell, r * self.cell, self.cell, self.cell)
        return ModelScore(raw=z, evidence=(Evidence("cell", "motion_energy", z, (r, c)),), boxes=(box,) if z > 3 else ())

    def save(self, directory: Path) -> dict[str, Any]:
        np.save(directory / "stats.npy", np.array([self.mean, self.std]))
        return {**self.params, "stats": "stats.npy"}

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Self:
        mean, std = np.load(directory / params["stats"])
        return cls(**{**params, "mean": float(mean), "std": float(std)})


@register
class Spy(AnomalyModel):
    """Test model that keeps every frame it is shown."""

    type_key = "test_spy"
    capabilities = frozenset({Capability.APPEARANCE})
    needs_fit = False
    seen: list[Frame]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.seen = []

    def score(self, frame: Frame) -> ModelScore:
        self.seen.append(frame)
        return ModelScore(raw=0.0)


def raw_frames(frames: Sequence[SimFrame]) -> list[RawFrame]:
    return [RawFrame(f.index, f.ts, f.image) for f in frames]


def to_frames(frames: Sequence[SimFrame]) -> list[Frame]:
    return [Frame(f.index, f.ts, f.image) for f in frames]


def write_sim_dataset(root: Path, *, train: int, train_frames: int, test: int, test_frames: int, warmup_s: float,
                      gap_s: tuple[float, float], shuffle_seed: int | None = None) -> dict[str, str]:
    """Simulator footage laid out like UCSD Ped2 (normal training clips, test clips with fast
    objects and their frame labels, shuffled per clip with ``shuffle_seed``); returns the labels."""
    import json
    import random

    from edge_agent.sim import write_folder

    for i in range(train):
        write_folder(root / "training" / "frames" / f"{i + 1:02d}", render(train_frames, seed=40 + i, normal_only=True))
    labels = {}
    for i in range(test):
        frames = render(test_frames, seed=60 + i, kinds=("fast",), warmup_s=warmup_s, gap_s=gap_s)
        write_folder(root / "testing" / "frames" / f"{i + 1:02d}", frames)
        text = ["1" if f.anomaly else "0" for f in frames]
        if shuffle_seed is not None:
            random.Random(shuffle_seed + i).shuffle(text)
        labels[f"{i + 1:02d}"] = "".join(text)
    (root / "test_frame_labels.json").write_text(json.dumps({"clips": labels}))
    return labels


@pytest.fixture(scope="session")
def normal_sim() -> list[SimFrame]:
    return render(300, seed=11, normal_only=True)


@pytest.fixture(scope="session")
def anomalous_sim() -> list[SimFrame]:
    return render(400, seed=3, kinds=("fast",))


# ---------------------------------------------------------------- tiny ONNX models
def _onnx() -> Any:
    return pytest.importorskip("onnx", reason="the onnx package builds the tiny test models (pip install onnx)")


def save_model(graph: Any, path: Path) -> Path:
    onnx = _onnx()
    helper = onnx.helper
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tiny_yolo(path: Path, *, input_shape: Sequence[int] = (1, 3, 64, 64), detections: np.ndarray | None = None) -> Path:
    """A 'YOLOv5' whose output is fixed detections [1, N, 5 + 2] plus 0 * mean(input)."""
    onnx = _onnx()
    helper, TensorProto = onnx.helper, onnx.TensorProto  # noqa: N806
    if detections is None:
        detections = np.array([[32, 32, 16, 32, 0.9, 0.95, 0.05],   # person, centre of the image
                               [10, 10, 8, 8, 0.9, 0.1, 0.9]], np.float32)[None]  # class 1: not a person
    const = helper.make_tensor("dets", TensorProto.FLOAT, detections.shape, detections.ravel().tolist())
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["dets", "z"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "tiny_yolo", [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(detections.shape))],
                              initializer=[const, zero])
    return save_model(graph, path)


def tiny_encoder(path: Path, *, input_shape: Sequence[int] = (1, 3, 32, 32)) -> Path:
    """An 'image encoder': global average pool of the (normalised) RGB channels -> [1, 3] embedding."""
    onnx = _onnx()
    helper, TensorProto = onnx.helper, onnx.TensorProto  # noqa: N806
    nodes = [helper.make_node("GlobalAveragePool", ["pixel_values"], ["p"]),
             helper.make_node("Flatten", ["p"], ["embeds"], axis=1)]
    inputs = [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, list(input_shape))]
    graph = helper.make_graph(nodes, "tiny_clip", inputs,
                              [helper.make_tensor_value_info("embeds", TensorProto.FLOAT, [1, 3])])
    return save_model(graph, path)
