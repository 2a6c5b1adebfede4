"""`vad-edge` end to end: train a bundle on simulated normal footage, run it, and exit code 2
with a message naming the file/field for every kind of bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_agent.cli import main
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.models.bundle import load_bundle
from edge_agent.sim import render, sim_zones, write_folder

from .conftest import tiny_yolo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _not_enrolled(tmp_path, monkeypatch):
    """`vad-edge run` streams when the default data dir holds device.json; these tests want JSON lines."""
    monkeypatch.setenv("VAD_EDGE_DATA_DIR", str(tmp_path / "not-enrolled"))


def _config(path: Path, source: Path, **camera) -> Path:
    cam = {"id": "gate", "source": str(source), "scene": "outdoor", "zones": [z.model_dump(mode="json") for z in sim_zones()],
           "smoothing": {"window_s": 1.0},
           "models": [{"type": "test_cell_motion", "name": "fine", "params": {"cell": 16}},
                      {"type": "test_cell_motion", "name": "coarse", "params": {"cell": 32}},
                      {"type": "zone_rules"}], **camera}
    agent = {"device_id": "box-1", "policy": {"policy_id": "eu-1"}, "cameras": [cam]}
    AgentConfig.model_validate(agent)
    path.write_text(json.dumps(agent))
    return path


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("footage")
    normal = [write_folder(d / f"normal{i}", render(120, seed=20 + i, normal_only=True)) for i in range(3)]
    test = write_folder(d / "test", render(450, seed=6, kinds=("fast", "intrusion"), warmup_s=5.0, gap_s=(4.0, 6.0)))
    return {"normal": normal, "test": test, "dir": d}


@pytest.fixture(scope="module")
def bundle(footage) -> Path:
    cfg = _config(footage["dir"] / "agent.json", footage["test"])
    out = footage["dir"] / "bundle.tar.gz"
    argv = ["train", "--config", str(cfg), "--quiet", "--out", str(out)]
    for n in footage["normal"]:
        argv += ["--source", str(n)]
    assert main(argv) == 0
    return out


def test_train_says_what_validation_chose_and_what_the_footage_can_show(footage, tmp_path, capsys):
    cfg = _config(tmp_path / "agent.json", footage["test"])
    argv = ["train", "--config", str(cfg), "--out", str(tmp_path / "b.tar.gz")]
    for n in footage["normal"]:
        argv += ["--source", str(n)]
    rc, msgs, err = _run(capsys, argv)
    chosen = msgs[-1]["chosen"]
    line = next(x for x in err.splitlines() if x.startswith("validation chose"))
    assert rc == 0 and f"threshold {chosen['threshold']:g}" in line
    assert "synthetic anomalies within 2 s" in line and "min of held-out normal footage" in line
    assert "per hour at 95% confidence" in line  # the bound, not just the count
    assert "exact McNemar p" in line  # and how far validation could tell the choice from the runner-up
    rc, _, err = _run(capsys, [*argv, "--quiet"])  # --quiet: the JSON line only
    assert rc == 0 and "validation chose" not in err


def _run(capsys, argv) -> tuple[int, list[dict], str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def test_train_then_run_prints_events_for_the_anomalies(footage, bundle, capsys):
    rc, msgs, _ = _run(capsys, ["run", "--config", str(footage["dir"] / "agent.json"), "--bundle", str(bundle)])
    assert rc == 0
    events = [m for m in msgs if m["type"].startswith("event_")]
    starts = [e for e in events if e["type"] == "event_open"]
    assert len(starts) == len([e for e in events if e["type"] == "event_close"]) >= 2
    assert any(e["rule"] == "intrusion" and e["zone"] == "restricted" for e in events)
    # the fast cart, by the k-of-n gate: as many weighted votes as the k validation chose (one model or more)
    assert any(e["rule"] is None and e["votes"] >= e["k"] > 0 for e in events if e["type"] == "event_open")
    status = [m["status"] for m in msgs if m["type"] == "stream_status"]
    assert status == ["opened", "ended"]
    manifest_models = {m["model"] for e in events for m in e["models"]}
    tuning = load_bundle(bundle).manifest.tuning
    assert tuning is not None
    chosen = {n for n, w in tuning["weights"].items() if w > 0}  # a model weighted 0 by validation is not run
    assert chosen and chosen <= {"fine", "coarse"} and manifest_models == chosen | {"zone_rules"}


def test_run_with_a_data_dir_that_is_not_enrolled_exits_2_saying_how_to_enroll(footage, bundle, tmp_path, capsys):
    rc, msgs, err = _run(capsys, ["run", "--config", str(footage["dir"] / "agent.json"), "--bundle", str(bundle),
                                  "--data-dir", str(tmp_path / "empty"), "--max-frames", "5"])
    assert rc == 2 and "device.json not found" in err and "vad-edge enroll" in err and msgs == []
    # positive control: without --data-dir (and nothing enrolled in the default place) it prints JSON lines
    rc, msgs, _ = _run(capsys, ["run", "--config", str(footage["dir"] / "agent.json"), "--bundle", str(bundle),
                                "--max-frames", "5"])
    assert rc == 0 and msgs[0]["type"] == "stream_status" and msgs[0]["v"] == 2


def test_unreadable_source_exits_2_naming_it(footage, bundle, capsys):
    rc, _, err = _run(capsys, ["run", "--config", str(footage["dir"] / "agent.json"), "--bundle", str(bundle),
                               "--source", "/no/such/clip.mp4"])
    assert rc == 2 and "/no/such/clip.mp4" in err


def test_sha256_mismatch_exits_2_naming_the_file(footage, bundle, tmp_path, capsys):
    import tarfile

    d = tmp_path / "b"
    with tarfile.open(bundle) as tar:
        tar.extractall(d, filter="data")
    np.save(d / "models" / "fine" / "stats.npy", np.array([0.0, 1.0]))
    rc, _, err = _run(capsys, ["run", "--config", str(footage["dir"] / "agent.json"), "--bundle", str(d)])
    assert rc == 2 and "sha256 mismatch" in err and "models/fine/stats.npy" in err


def test_corrupt_bundle_exits_2(footage, tmp_path, capsys):
    junk = tmp_path / "bundle.tar.gz"
    junk.write_bytes(b"nope")
    rc, _, err = _run(capsys, ["run", "--config", str(footage["dir"] / "agent.json"), "--bundle", str(junk)])
    assert rc == 2 and "bundle.tar.gz" in err


def test_forbidden_capability_exits_2_saying_why(footage, bundle, tmp_path, capsys):
    data = json.loads((footage["dir"] / "agent.json").read_text())
    data["policy"] = {"policy_id": "fr-cnil-3", "forbidden_capabilities": ["motion"]}
    cfg = tmp_path / "strict.json"
    cfg.write_text(json.dumps(data))
    rc, _, err = _run(capsys, ["run", "--config", str(cfg), "--bundle", str(bundle)])
    assert rc == 2 and "motion" in err and "fr-cnil-3" in err and "'fine'" in err


def test_wrong_onnx_input_shape_exits_2_naming_the_file(footage, tmp_path, capsys):
    onnx_path = tiny_yolo(tmp_path / "people.onnx", input_shape=(1, 1, 64, 64))
    cfg = _config(tmp_path / "agent.json", footage["test"], models=[{"type": "yolo_onnx", "model_path": str(onnx_path)}])
    rc, _, err = _run(capsys, ["run", "--config", str(cfg)])
    assert rc == 2 and "people.onnx" in err and "[1, 1, 64, 64]" in err


def test_invalid_config_exits_2_naming_the_field(tmp_path, capsys):
    cfg = tmp_path / "agent.json"
    cfg.write_text(json.dumps({"cameras": [{"id": "a", "source": "x", "consensus": {"treshold": 2}}]}))
    rc, _, err = _run(capsys, ["run", "--config", str(cfg)])
    assert rc == 2 and "agent.json" in err and "cameras.0.consensus.treshold" in err


@pytest.mark.parametrize(("model", "params", "named"), [
    ("objects", {"k": "three"}, "'k' must be an integer, got 'three'"),
    ("flow", {"gap": 1.5}, "'gap' must be an integer, got 1.5"),
    ("autoencoder", {"track_s": "long"}, "'track_s' must be a number, got 'long'"),
])
def test_a_model_param_of_the_wrong_type_exits_2_naming_the_model_and_param(footage, tmp_path, capsys, model, params,
                                                                           named):
    cfg = _config(tmp_path / "agent.json", footage["test"], models=[{"type": model, "params": params}])
    rc, _, err = _run(capsys, ["train", "--config", str(cfg), "--quiet", "--out", str(tmp_path / "b"),
                               "--source", str(footage["normal"][0])])
    assert rc == 2 and f"model {model!r}" in err and named in err


def test_models_that_need_fitting_without_a_bundle_say_how_to_fix_it(footage, capsys):
    rc, _, err = _run(capsys, ["run", "--config", str(footage["dir"] / "agent.json")])
    assert rc == 2 and "vad-edge train" in err


def test_doctor_reports_runtimes_and_policy(capsys):
    assert main(["doctor"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "CPUExecutionProvider" in info["onnx_providers_available"]
    import importlib.util

    hailo_installed = importlib.util.find_spec("hailo_platform") is not None
    assert info["hailo"]["available"] is hailo_installed  # this machine: no HailoRT, so False
    assert info["hailo"]["detail"]  # and it says why (or which device)
    assert info["policy"]["biometric_off"]


@pytest.mark.skipif(shutil.which("vad-edge", path=str(Path(sys.executable).parent)) is None,
                    reason="vad-edge console script not installed in this environment (pip install -e ./edge_agent)")
def test_console_script_runs():
    exe = shutil.which("vad-edge", path=str(Path(sys.executable).parent))
    out = subprocess.run([exe, "doctor"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["vad_edge"]


def test_python_dash_m_entry_point_exits_2_on_bad_source():
    out = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--source", "/nope/cam.mp4"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "/nope/cam.mp4" in out.stderr


def test_sim_cli_writes_frames_and_ground_truth(tmp_path):
    out = subprocess.run([sys.executable, "-m", "edge_agent.sim", "--out", str(tmp_path / "s"), "--frames", "30"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["frames"] == 30
    truth = json.loads((tmp_path / "s" / "ground_truth.json").read_text())
    assert len(truth["frames"]) == 30 and len(list((tmp_path / "s").glob("*.png"))) == 30


def test_camera_config_requires_an_id():
    with pytest.raises(Exception, match="id"):
        CameraConfig(source="x")  # type: ignore[call-arg]
