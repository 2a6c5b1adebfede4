"""Registry: unknown types, policy refusals (forbidden and biometric), missing runtimes."""

from __future__ import annotations

import pytest

from edge_agent.config import Policy
from edge_agent.errors import ForbiddenCapability, RuntimeUnavailable, UnknownModelType
from edge_agent.models.registry import REGISTRY, get_model_class, load_model
from edge_agent.models.runtimes import HailoRuntime, choose_providers

from .conftest import tiny_encoder


def test_unknown_type_lists_the_known_ones():
    with pytest.raises(UnknownModelType) as err:
        load_model("yolo9000")
    assert "'yolo9000'" in str(err.value) and "hog_person" in str(err.value) and "zone_rules" in str(err.value)


def test_forbidden_capability_names_model_capability_and_policy():
    policy = Policy(policy_id="de-works-council", forbidden_capabilities=frozenset({"person_detection"}))
    with pytest.raises(ForbiddenCapability) as err:
        load_model("hog_person", policy=policy, name="entrance-people")
    msg = str(err.value)
    assert "entrance-people" in msg and "person_detection" in msg and "de-works-council" in msg


def test_biometric_identification_is_off_unless_the_policy_allows_it(tmp_path):
    onnx_path = tiny_encoder(tmp_path / "emb.onnx")
    with pytest.raises(ForbiddenCapability, match="biometric_identification.*allowed_biometric"):
        load_model("face_recognition_onnx", params={"model_path": str(onnx_path)})
    allowed = Policy(policy_id="us-opt-in", allowed_biometric=frozenset({"biometric_identification"}))
    model = load_model("face_recognition_onnx", params={"model_path": str(onnx_path)}, policy=allowed)
    assert model.type_key == "face_recognition_onnx"


def test_the_policy_is_checked_before_any_model_file_is_opened(tmp_path):
    with pytest.raises(ForbiddenCapability):
        load_model("face_recognition_onnx", params={"model_path": str(tmp_path / "absent.onnx")})


def test_builtin_plugins_register_by_type_key():
    for key in ("hog_person", "yolo_onnx", "clip_onnx", "face_haar", "face_recognition_onnx", "zone_rules"):
        assert get_model_class(key).type_key == key
        assert REGISTRY[key].capabilities


def test_hailo_without_hailort_is_a_clear_runtime_error(tmp_path):
    with pytest.raises(RuntimeUnavailable, match="HailoRT") as err:
        HailoRuntime(tmp_path / "net.hef")
    assert isinstance(err.value.__cause__, ImportError)


def test_gpu_runtime_without_onnxruntime_gpu_is_refused():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA, so the refusal without onnxruntime-gpu cannot be shown here")
    assert choose_providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(RuntimeUnavailable, match="vad-edge\\[gpu\\]"):
        choose_providers("cuda")
