"""Simulator determinism and ground truth; bundle fitting splits held-out normal footage."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config import CameraConfig
from edge_agent.errors import SourceError
from edge_agent.models.bundle import load_bundle
from edge_agent.sim import render
from edge_agent.training.fit import expand_clips, fit_bundle, split_holdout

from .conftest import to_frames


def test_same_seed_same_frames_and_truth():
    a, b = render(150, seed=7), render(150, seed=7)
    assert all(np.array_equal(x.image, y.image) and x.labels == y.labels for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, render(150, seed=8), strict=True))


def test_long_scene_has_every_anomaly_kind_and_normal_scene_none():
    frames = render(1000, seed=1)
    kinds = {label for f in frames for label in f.labels}
    assert kinds == {"fast", "loiter", "intrusion"}
    assert not frames[0].anomaly and 0.05 < np.mean([f.anomaly for f in frames]) < 0.5
    assert not any(f.anomaly for f in render(600, seed=1, normal_only=True))


def test_colour_and_size_options():
    f = render(2, seed=0, color=True, width=320, height=180)[1]
    assert f.image.shape == (180, 320, 3) and f.image.dtype == np.uint8


def test_holdout_split_keeps_whole_clips_when_there_are_enough():
    clips = [[i] * 10 for i in range(7)]
    fit, held = split_holdout(clips)  # type: ignore[arg-type]
    assert [c[0] for c in held] == [1, 6] and len(fit) == 5
    fit, held = split_holdout([list(range(10))])  # type: ignore[arg-type]
    assert fit == [list(range(8))] and held == [[8, 9]]


def test_fit_bundle_calibrates_voting_models_on_held_out_frames(tmp_path, normal_sim):
    models = [{"type": "test_cell_motion", "params": {"cell": 20}}, {"type": "zone_rules"}]
    cam = CameraConfig(id="c", source="sim", models=models)
    done: list[int] = []
    out = fit_bundle(cam, [to_frames(normal_sim)], tmp_path / "b", progress=done.append)
    bundle = load_bundle(out)
    entries = {m.name: m for m in bundle.manifest.models}
    assert entries["test_cell_motion"].calibration is not None and entries["zone_rules"].calibration is None
    assert bundle.manifest.training["holdout_frames"] == 60 and sum(done) >= 300
    assert [f.path for f in entries["zone_rules"].files] == ["models/zone_rules/background.npy"]


def test_fit_bundle_refuses_too_little_footage(tmp_path, normal_sim):
    cam = CameraConfig(id="c", source="sim", models=[{"type": "zone_rules"}])
    with pytest.raises(SourceError, match="too little footage"):
        fit_bundle(cam, [to_frames(normal_sim[:1])], tmp_path / "b")


def test_a_folder_of_clip_folders_is_one_clip_per_sub_folder(tmp_path):
    for name in ("02", "01"):
        (tmp_path / "frames" / name).mkdir(parents=True)
        (tmp_path / "frames" / name / "000.jpg").write_bytes(b"")
    frames = tmp_path / "frames"
    clips = expand_clips([str(frames), str(frames / "02"), "clip.mp4"])
    assert clips == [str(frames / "01"), str(frames / "02"), str(frames / "02"), "clip.mp4"]
