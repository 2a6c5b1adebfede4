"""Model bundles: round trip (directory and tar.gz), sha256 verification, policy refusal."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from edge_agent.config import CameraConfig, Policy
from edge_agent.errors import BundleError, ChecksumMismatch, ForbiddenCapability
from edge_agent.models.bundle import load_bundle, write_bundle
from edge_agent.pipeline.calibrate import Calibrator
from edge_agent.pipeline.events import EventMessage
from edge_agent.pipeline.pipeline import Member, Pipeline

from .conftest import CellMotion, raw_frames, to_frames


@pytest.fixture(scope="module")
def fitted(normal_sim) -> list[Member]:
    frames = to_frames(normal_sim)
    members = []
    for name, cell in (("fine", 16), ("coarse", 32)):
        m = CellMotion(cell=cell)
        m.fit([frames[:200]])
        cal = Calibrator.fit(np.array([m.score(f).raw for f in frames[200:]]))
        m.reset()
        members.append(Member(name, m, cal, 1.0))
    return members


def _write(path, members):
    return write_bundle(path, camera_id="cam-1", scene="outdoor", resize=(360, 240), color=False, members=members)


@pytest.mark.parametrize("name", ["bundle", "bundle.tar.gz"])
def test_bundle_round_trip_scores_like_the_fitted_models(tmp_path, fitted, anomalous_sim, name):
    path = _write(tmp_path / name, fitted)
    bundle = load_bundle(path)
    manifest = bundle.manifest
    assert manifest.format_version == 1 and manifest.camera_id == "cam-1"
    entry = manifest.models[0]
    assert entry.type == "test_cell_motion" and entry.capabilities == ["motion"]
    assert entry.calibration == fitted[0].calibrator.to_dict()
    assert entry.files[0].path == "models/fine/stats.npy" and len(entry.files[0].sha256) == 64
    cam = CameraConfig(id="cam-1", source="sim")
    before = list(Pipeline(cam, fitted).run(raw_frames(anomalous_sim)))
    after = list(Pipeline(cam, bundle.members).run(raw_frames(anomalous_sim)))
    per_run = {"event_id", "wall_ts"}  # a fresh UUIDv7 and the wall clock: differ between runs by design
    assert [m.model_dump(exclude=per_run) for m in before if isinstance(m, EventMessage)] == \
        [m.model_dump(exclude=per_run) for m in after if isinstance(m, EventMessage)]


def test_sha256_mismatch_names_the_file(tmp_path, fitted):
    path = _write(tmp_path / "b", fitted)
    np.save(path / "models" / "coarse" / "stats.npy", np.array([0.0, 99.0]))
    with pytest.raises(ChecksumMismatch, match=r"models/coarse/stats\.npy"):
        load_bundle(path)


def test_tampered_tarball_is_refused(tmp_path, fitted):
    good = _write(tmp_path / "b", fitted)
    np.save(good / "models" / "fine" / "stats.npy", np.array([1.0, 2.0]))
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for p in sorted(good.rglob("*")):
            tar.add(p, arcname=p.relative_to(good).as_posix(), recursive=False)
    with pytest.raises(ChecksumMismatch, match="fine/stats.npy"):
        load_bundle(bad)


def test_missing_unlisted_and_corrupt_files_are_errors(tmp_path, fitted):
    path = _write(tmp_path / "b", fitted)
    (path / "models" / "fine" / "extra.bin").write_bytes(b"x")
    with pytest.raises(BundleError, match="extra.bin"):
        load_bundle(path)
    (path / "models" / "fine" / "extra.bin").unlink()
    (path / "models" / "fine" / "stats.npy").unlink()
    with pytest.raises(BundleError, match="stats.npy .*missing"):
        load_bundle(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="manifest.json"):
        load_bundle(path)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(BundleError, match="junk.tar.gz"):
        load_bundle(junk)


def test_manifest_with_unknown_key_is_refused(tmp_path, fitted):
    path = _write(tmp_path / "b", fitted)
    data = json.loads((path / "manifest.json").read_text())
    data["models"][0]["surprise"] = 1
    (path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"models\.0\.surprise"):
        load_bundle(path)


def test_policy_forbidding_a_bundled_capability_refuses_the_bundle(tmp_path, fitted):
    path = _write(tmp_path / "b", fitted)
    policy = Policy(policy_id="eu-strict-7", forbidden_capabilities=frozenset({"motion"}))
    with pytest.raises(ForbiddenCapability) as err:
        load_bundle(path, policy=policy)
    assert "'fine'" in str(err.value) and "motion" in str(err.value) and "eu-strict-7" in str(err.value)


def test_capabilities_are_checked_against_the_class_not_only_the_manifest(tmp_path, fitted):
    path = _write(tmp_path / "b", fitted)
    data = json.loads((path / "manifest.json").read_text())
    for m in data["models"]:
        m["capabilities"] = []  # a manifest that under-declares
    (path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ForbiddenCapability, match="motion"):
        load_bundle(path, policy=Policy(policy_id="p", forbidden_capabilities=frozenset({"motion"})))


def test_writing_a_bundle_never_overwrites_a_directory_that_is_not_one(tmp_path, fitted):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.txt").write_text("precious")
    with pytest.raises(BundleError, match="not a model bundle"):
        _write(home, fitted)
    assert (home / "thesis.txt").read_text() == "precious"
    _write(tmp_path / "b", fitted)
    _write(tmp_path / "b", fitted)  # re-training over an old bundle is fine


def test_bundle_fitted_by_another_model_version_is_refused(tmp_path, fitted):
    path = _write(tmp_path / "b", fitted)
    data = json.loads((path / "manifest.json").read_text())
    data["models"][1]["version"] = "0"  # e.g. an objects bank from before tracking: same shape, other meaning
    (path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"'coarse' was fitted by version 0 .*refit"):
        load_bundle(path)
