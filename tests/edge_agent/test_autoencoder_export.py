"""The patch autoencoder: torch training, ONNX export, onnxruntime inference that agrees with torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import ConfigError, ModelFileError
from edge_agent.models.autoencoder import AutoencoderModel, motion_patches
from edge_agent.models.flow import clear_cache
from edge_agent.sim import SimFrame

from .conftest import to_frames

torch = pytest.importorskip("torch", reason="training needs torch (pip install 'vad-edge[train]')")
pytest.importorskip("onnx", reason="ONNX export needs the onnx package")


def _patches(n: int = 512, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 16, 16)).astype(np.float32)


def test_onnxruntime_reconstruction_matches_torch() -> None:
    import onnxruntime as ort

    from edge_agent.training.autoencoder import TrainSettings, export_onnx, reconstruct, train_autoencoder

    net = train_autoencoder(_patches(), TrainSettings(epochs=1, threads=1))
    session = ort.InferenceSession(export_onnx(net, 3, 16), providers=["CPUExecutionProvider"])
    x = _patches(37, seed=1)  # a batch size never seen at export: the batch axis is dynamic
    onnx_out = session.run(None, {"patches": x})[0]
    np.testing.assert_allclose(onnx_out, reconstruct(net, x), atol=1e-4, rtol=1e-4)


def test_training_is_deterministic_with_a_fixed_seed() -> None:
    from edge_agent.training.autoencoder import TrainSettings, reconstruct, train_autoencoder

    x = _patches(300)
    a = reconstruct(train_autoencoder(x, TrainSettings(epochs=1, threads=1)), x[:8])
    b = reconstruct(train_autoencoder(x, TrainSettings(epochs=1, threads=1)), x[:8])
    np.testing.assert_array_equal(a, b)


def test_motion_patches_only_where_things_move() -> None:
    gray = np.zeros((240, 360), np.uint8)
    coarse = np.zeros((120, 180, 2), np.float32)
    assert motion_patches(gray, coarse)[0].shape == (0, 3, 16, 16)
    coarse[40:60, 100:120] = (3.0, 0.0)
    patches, corners = motion_patches(gray, coarse)
    assert patches.shape[1:] == (3, 16, 16) and len(patches) == len(corners) > 0
    assert all(24 <= y <= 60 and 84 <= x <= 120 for y, x in corners)


@pytest.fixture(scope="module")
def fitted_ae(normal_sim: list[SimFrame]) -> AutoencoderModel:
    model = AutoencoderModel(epochs=1, max_patches=4000, train_threads=1)
    frames = to_frames(normal_sim)
    model.fit([frames[:150], frames[150:]])
    return model


def test_fitted_model_scores_with_onnxruntime_and_round_trips(fitted_ae: AutoencoderModel, tmp_path: Path,
                                                               anomalous_sim: list[SimFrame]) -> None:
    params = fitted_ae.save(tmp_path)
    assert (tmp_path / "autoencoder.onnx").is_file()
    loaded = AutoencoderModel.load(tmp_path, params)
    frames = to_frames(anomalous_sim[:40])
    clear_cache()
    fitted_ae.reset()
    a = [fitted_ae.score(f).raw for f in frames]
    clear_cache()
    b = [loaded.score(f).raw for f in frames]
    np.testing.assert_allclose(b, a, rtol=1e-5)
    assert max(a) > 0


def test_wrong_input_shape_in_the_onnx_file_is_named(fitted_ae: AutoencoderModel, tmp_path: Path) -> None:
    params = fitted_ae.save(tmp_path)
    with pytest.raises(ModelFileError, match="autoencoder.onnx"):
        AutoencoderModel.load(tmp_path, {**params, "patch": 32})


def test_inference_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, edge_agent.models.autoencoder, edge_agent.models.flow, edge_agent.models.objects, "
            "edge_agent.bench; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_error_is_measured_at_tracked_objects(fitted_ae: AutoencoderModel, anomalous_sim: list[SimFrame]) -> None:
    fitted_ae.reset()
    scored = [fitted_ae.score(f) for f in to_frames(anomalous_sim[:80])]
    spans = [int(e.label.split("last ")[1].split(" frames")[0]) for s in scored for e in s.evidence]
    assert spans and max(spans) >= 5  # the error of one object is averaged over its track, not one frame
    assert all(s.boxes and s.evidence[0].where == tuple(map(float, s.boxes[0])) for s in scored if s.raw > 0)


def test_track_window_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="track_s.*-1"):
        AutoencoderModel(track_s=-1)
