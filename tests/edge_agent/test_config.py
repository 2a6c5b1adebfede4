"""Config: strict validation with field names, discriminated model union, scene defaults, policy."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from edge_agent.config import AgentConfig, CameraConfig, Policy, YoloOnnxModel, load_config, parse_config
from edge_agent.errors import ConfigError


def test_unknown_keys_are_refused_with_their_path():
    with pytest.raises(ConfigError, match=r"cameras\.0\.thresholdd: Extra inputs"):
        parse_config({"cameras": [{"id": "a", "source": "x.mp4", "thresholdd": 1}]})


def test_models_are_a_union_discriminated_on_type():
    cam = CameraConfig(id="a", source="x", models=[{"type": "yolo_onnx", "model_path": "m.onnx", "weight": 2}])
    model = cam.models[0]
    assert isinstance(model, YoloOnnxModel) and model.weight == 2
    assert model.model_params()["model_path"] == "m.onnx"
    plugin = CameraConfig(id="a", source="x", models=[{"type": "acme_thermal", "params": {"gain": 2}}]).models[0]
    assert plugin.model_name == "acme_thermal" and plugin.model_params() == {"gain": 2}
    with pytest.raises(ValidationError, match="String should match pattern"):
        CameraConfig(id="a", source="x", models=[{"type": "Bad Type"}])
    with pytest.raises(ValidationError, match="Extra inputs"):
        CameraConfig(id="a", source="x", models=[{"type": "acme_thermal", "gain": 2}])
    with pytest.raises(ValidationError, match=r"models\.0\n.*every model needs a 'type'; built in: \['appearance', 'autoencoder'"):
        CameraConfig(id="a", source="x", models=[{"name": "typeless"}])
    with pytest.raises(ValidationError, match="model_path"):
        CameraConfig(id="a", source="x", models=[{"type": "yolo_onnx"}])


@pytest.mark.parametrize(("scene", "expected"), [
    ("indoor", ["flow", "objects", "autoencoder", "appearance"]),
    ("outdoor", ["flow", "objects", "autoencoder", "appearance"]),
    ("parking", ["flow", "objects", "autoencoder", "appearance", "zone_rules"]),
    ("retail", ["flow", "objects", "autoencoder", "appearance", "zone_rules"]),
])
def test_default_model_set_per_scene_class(scene, expected):
    assert [m.model_name for m in CameraConfig(id="a", source="x", scene=scene).effective_models()] == expected


def test_defaults_are_three_second_ema_and_two_of_n():
    cam = CameraConfig(id="a", source="x")
    assert cam.smoothing.window_s is None and cam.smoothing.median_s == 0.3 and cam.consensus.k is None and cam.resize == (360, 240)


def test_mask_coordinates_are_normalised():
    with pytest.raises(ValidationError, match=r"privacy_masks\.0\.points\.1\.0"):
        CameraConfig(id="a", source="x", privacy_masks=[{"points": [[0, 0], [1.5, 0], [1, 1]]}])


def test_duplicate_model_names_are_refused():
    with pytest.raises(ValidationError, match=r"duplicated: \['hog_person'\]"):
        CameraConfig(id="a", source="x", models=[{"type": "hog_person"}, {"type": "hog_person"}])


def test_policy_only_allows_biometric_capabilities():
    with pytest.raises(ValidationError, match="allowed_biometric accepts only"):
        Policy(allowed_biometric={"motion"})
    with pytest.raises(ValidationError, match="both forbidden and allowed"):
        Policy(allowed_biometric={"gait_analysis"}, forbidden_capabilities={"gait_analysis"})


def test_config_is_frozen():
    cam = CameraConfig(id="a", source="x")
    with pytest.raises(ValidationError):
        cam.source = "y"


def test_load_config_names_the_file_for_json_and_toml_errors(tmp_path):
    bad = tmp_path / "agent.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="agent.json is not valid JSON"):
        load_config(bad)
    toml = tmp_path / "agent.toml"
    toml.write_text('device_id = "box-1"\n[[cameras]]\nid = "gate"\nsource = "rtsp://cam/1"\nscene = "parking"\n')
    cfg = load_config(toml)
    assert cfg.cameras[0].scene == "parking"
    good = tmp_path / "ok.json"
    good.write_text(json.dumps(AgentConfig(cameras=[CameraConfig(id="a", source="x")]).model_dump(mode="json")))
    assert load_config(good).camera("a").source == "x"
    with pytest.raises(ConfigError, match=r"unknown camera 'b'; configured: \['a'\]"):
        load_config(good).camera("b")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.json")
