"""The perspective learned from normal footage, and the appearance model of moving objects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.errors import ConfigError, ModelFileError, NotFitted
from edge_agent.metrics import roc_auc
from edge_agent.models.appearance import AppearanceModel, hog
from edge_agent.models.base import Frame
from edge_agent.models.flow import Candidate, clear_cache
from edge_agent.models.objects import ObjectsModel
from edge_agent.models.perspective import Perspective
from edge_agent.models.registry import get_model_class
from edge_agent.sim import SimFrame

from .conftest import to_frames


def _clips(frames: list[SimFrame], n: int = 2) -> list[list[Frame]]:
    fs = to_frames(frames)
    size = len(fs) // n
    return [fs[i * size:(i + 1) * size] for i in range(n)]


def _scores(model: AppearanceModel, frames: list[SimFrame]) -> np.ndarray:
    model.reset()
    return np.array([model.score(f).raw for f in to_frames(frames)])


@pytest.fixture(scope="module")
def fitted_appearance(normal_sim: list[SimFrame]) -> AppearanceModel:
    model = AppearanceModel()
    model.fit(_clips(normal_sim))
    return model


def test_perspective_recovers_how_object_height_grows_down_the_frame() -> None:
    rng = np.random.default_rng(0)
    rows = rng.uniform(0.1, 0.95, 3000)
    heights = 12.0 + 40.0 * rows + rng.normal(0, 3.0, rows.size)
    heights[:200] = rng.uniform(60, 120, 200)  # some merged blobs and noise: the band medians ignore them
    p = Perspective.fit(rows, heights)
    assert p.height(0.2) == pytest.approx(20.0, abs=2.0)
    assert p.height(0.9) == pytest.approx(48.0, abs=2.0)


def test_perspective_is_flat_without_enough_rows_and_never_below_its_floor() -> None:
    flat = Perspective.fit(np.full(50, 0.5), np.full(50, 30.0))
    assert flat.slope == 0.0 and flat.height(0.0) == pytest.approx(30.0)
    steep = Perspective(intercept=-100.0, slope=200.0, median=40.0)
    assert steep.height(0.0) == pytest.approx(0.3 * 40.0)  # a steep line never divides by a tiny or negative height
    assert Perspective.fit(np.array([0.5]), np.array([0.0])).median > 0  # nothing usable: a default, not a crash


def test_objects_model_learns_the_perspective_and_keeps_it_in_the_bundle(normal_sim: list[SimFrame],
                                                                         tmp_path: Path) -> None:
    model = ObjectsModel()
    model.fit(_clips(normal_sim))
    params = model.save(tmp_path)
    assert params["perspective"]["median"] > 0
    del params["perspective"]
    with pytest.raises(ModelFileError, match="perspective is unreadable"):
        ObjectsModel.load(tmp_path, params)


def test_registry_finds_the_appearance_model() -> None:
    assert get_model_class("appearance") is AppearanceModel


def test_appearance_scores_a_cart_above_walkers(fitted_appearance: AppearanceModel,
                                                anomalous_sim: list[SimFrame]) -> None:
    labels = np.array(["fast" in f.labels for f in anomalous_sim])
    assert labels.any() and (~labels).any()
    assert roc_auc(labels, _scores(fitted_appearance, anomalous_sim)) > 0.75


def test_appearance_evidence_is_the_object_box(fitted_appearance: AppearanceModel, anomalous_sim: list[SimFrame]) -> None:
    fitted_appearance.reset()
    top = max((fitted_appearance.score(f) for f in to_frames(anomalous_sim)), key=lambda s: s.raw)
    assert top.evidence[0].kind == "box" and len(top.evidence[0].where) == 4 and top.boxes
    assert "track" in top.evidence[0].label


def test_saved_and_loaded_appearance_scores_the_same(fitted_appearance: AppearanceModel, tmp_path: Path,
                                                     anomalous_sim: list[SimFrame]) -> None:
    params = fitted_appearance.save(tmp_path)
    loaded = AppearanceModel.load(tmp_path, params)
    frames = anomalous_sim[:60]
    clear_cache()
    a = _scores(fitted_appearance, frames)
    clear_cache()
    np.testing.assert_allclose(_scores(loaded, frames), a, rtol=1e-6)


def test_a_bank_of_the_wrong_width_is_refused_naming_the_file(fitted_appearance: AppearanceModel, tmp_path: Path) -> None:
    params = fitted_appearance.save(tmp_path)
    assert fitted_appearance.bank is not None
    with open(tmp_path / "appearance_bank.npz", "wb") as fh:
        np.savez(fh, bank=fitted_appearance.bank[:, :100])
    with pytest.raises(ModelFileError, match=r"appearance_bank.npz has shape \(\d+, 100\)"):
        AppearanceModel.load(tmp_path, params)


def test_appearance_before_fit_and_bad_params_say_what_is_wrong(normal_sim: list[SimFrame]) -> None:
    with pytest.raises(NotFitted, match="fitted"):
        AppearanceModel().score(to_frames(normal_sim)[0])
    with pytest.raises(ConfigError, match="crop must be >= 16 pixels and divisible by 8, got 20"):
        AppearanceModel(crop=20)
    with pytest.raises(ConfigError, match="scale .* got 9"):
        AppearanceModel(scale=9)


def test_an_object_cut_by_the_frame_edge_is_described_by_real_pixels(fitted_appearance: AppearanceModel) -> None:
    """At the border the crop moves inside the frame: no replicated edge row smeared over half of it
    (on Ped2 such crops were the two most unusual-looking normal objects, 7.5 and 4.5 calibrated)."""
    gray = np.random.default_rng(3).integers(0, 255, (240, 360)).astype(np.uint8)
    frame = Frame(index=0, ts=0.0, gray=gray)
    corner = Candidate(x=0, y=239, speed=1.0, dx=1.0, dy=0.0, h=20, w=10, area=150)  # cut by the left and bottom edges
    got = fitted_appearance.describe_objects(frame, [corner])[0]
    assert fitted_appearance.perspective is not None
    s = int(max(8, min(fitted_appearance.perspective.height(np.array([239 / 240]))[0] * fitted_appearance.scale, 240, 360)))
    crop = cv2.resize(gray[240 - s:, :s], (fitted_appearance.crop,) * 2, interpolation=cv2.INTER_AREA)
    inside = hog(fitted_appearance.crop).compute(crop).ravel()
    np.testing.assert_allclose(got, inside, atol=1e-5)  # the square in the corner, real pixels only
    smeared = cv2.resize(cv2.getRectSubPix(gray, (s, s), (0.0, 239.0)), (fitted_appearance.crop,) * 2,
                         interpolation=cv2.INTER_AREA)
    assert np.abs(hog(fitted_appearance.crop).compute(smeared).ravel() - got).max() > 0.05  # control: the old crop differs
