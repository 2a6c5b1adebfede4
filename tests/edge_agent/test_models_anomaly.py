"""The flow, objects and autoencoder anomaly models on simulator footage (fit, score, save/load, errors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import ConfigError, ModelFileError, NotFitted
from edge_agent.metrics import roc_auc
from edge_agent.models.base import Frame
from edge_agent.models.flow import Candidate, FlowModel, MotionFrontEnd, MotionSettings, clear_cache, magnitude, motion_cache
from edge_agent.models.objects import FEATURES, ObjectsModel, ObjectTracker, Track
from edge_agent.models.registry import get_model_class
from edge_agent.sim import SimFrame

from .conftest import to_frames


def _clips(frames: list[SimFrame], n: int = 2) -> list[list[Frame]]:
    fs = to_frames(frames)
    size = len(fs) // n
    return [fs[i * size:(i + 1) * size] for i in range(n)]


def _scores(model: FlowModel | ObjectsModel, frames: list[SimFrame]) -> np.ndarray:
    model.reset()
    return np.array([model.score(f).raw for f in to_frames(frames)])


def _fast_labels(frames: list[SimFrame]) -> np.ndarray:
    return np.array(["fast" in f.labels for f in frames])


@pytest.fixture(scope="module")
def fitted_flow(normal_sim: list[SimFrame]) -> FlowModel:
    model = FlowModel()
    model.fit(_clips(normal_sim))
    return model


@pytest.fixture(scope="module")
def fitted_objects(normal_sim: list[SimFrame]) -> ObjectsModel:
    model = ObjectsModel()
    model.fit(_clips(normal_sim))
    return model


def test_registry_finds_the_anomaly_models_by_type_key() -> None:
    assert get_model_class("flow") is FlowModel
    assert get_model_class("objects") is ObjectsModel
    assert get_model_class("autoencoder").type_key == "autoencoder"


def test_flow_scores_fast_objects_above_walkers(fitted_flow: FlowModel, anomalous_sim: list[SimFrame]) -> None:
    labels = _fast_labels(anomalous_sim)
    assert labels.any() and (~labels).any()
    assert roc_auc(labels, _scores(fitted_flow, anomalous_sim)) > 0.85


def test_flow_learns_object_size_and_per_cell_statistics(fitted_flow: FlowModel) -> None:
    assert fitted_flow.box is not None and 8 <= fitted_flow.box <= 128
    assert fitted_flow.cell_q99 is not None and fitted_flow.cell_q99.shape == fitted_flow.grid
    assert fitted_flow.global_q99 > 0


def test_flow_evidence_names_the_cell_and_its_normal_speed(fitted_flow: FlowModel, anomalous_sim: list[SimFrame]) -> None:
    fitted_flow.reset()
    scored = [fitted_flow.score(f) for f in to_frames(anomalous_sim)]
    top = max(scored, key=lambda s: s.raw)
    assert top.evidence[0].kind == "cell" and "normal p99" in top.evidence[0].label
    assert len(top.evidence[0].where) == 2
    assert top.boxes and all(v >= 0 for v in top.boxes[0])


def test_first_frame_of_a_stream_scores_zero(fitted_flow: FlowModel, normal_sim: list[SimFrame]) -> None:
    fitted_flow.reset()
    assert fitted_flow.score(to_frames(normal_sim)[0]).raw == 0.0


def test_objects_scores_fast_objects_above_walkers(fitted_objects: ObjectsModel, anomalous_sim: list[SimFrame]) -> None:
    labels = _fast_labels(anomalous_sim)
    assert roc_auc(labels, _scores(fitted_objects, anomalous_sim)) > 0.7


def test_objects_evidence_is_a_box_and_deviating_features(fitted_objects: ObjectsModel, anomalous_sim: list[SimFrame]) -> None:
    fitted_objects.reset()
    top = max((fitted_objects.score(f) for f in to_frames(anomalous_sim)), key=lambda s: s.raw)
    assert top.evidence[0].kind == "box" and len(top.evidence[0].where) == 4
    assert any(e.kind == "feature" and "off normal" in e.label for e in top.evidence)


@pytest.mark.parametrize("cls", [FlowModel, ObjectsModel])
def test_saved_and_loaded_model_scores_the_same(cls: type[FlowModel] | type[ObjectsModel], tmp_path: Path,
                                                 fitted_flow: FlowModel, fitted_objects: ObjectsModel,
                                                 anomalous_sim: list[SimFrame]) -> None:
    model = fitted_flow if cls is FlowModel else fitted_objects
    params = model.save(tmp_path)
    loaded = cls.load(tmp_path, params)
    frames = anomalous_sim[:60]
    clear_cache()
    a = _scores(model, frames)
    clear_cache()
    np.testing.assert_allclose(_scores(loaded, frames), a, rtol=1e-6)


@pytest.mark.parametrize("cls", [FlowModel, ObjectsModel])
def test_scoring_before_fit_says_so(cls: type[FlowModel] | type[ObjectsModel], normal_sim: list[SimFrame]) -> None:
    with pytest.raises(NotFitted, match="fitted"):
        cls().score(to_frames(normal_sim)[0])


@pytest.mark.parametrize("cls", [FlowModel, ObjectsModel])
def test_a_bundle_keeps_the_front_end_it_was_calibrated_on(cls: type[FlowModel] | type[ObjectsModel], tmp_path: Path,
                                                           fitted_flow: FlowModel, fitted_objects: ObjectsModel) -> None:
    model = fitted_flow if cls is FlowModel else fitted_objects
    params = model.save(tmp_path)
    assert params["coarse_refine"] == 2  # what it was fitted with is stored
    assert cls.load(tmp_path, params).front.s.coarse_refine == 2  # type: ignore[union-attr]
    before = {k: v for k, v in params.items() if k != "coarse_refine"}  # a bundle saved before the setting existed
    assert cls.load(tmp_path, before).front.s.coarse_refine == 5  # type: ignore[union-attr]  # the FAST preset's


def test_coarse_refinement_outside_its_range_is_named() -> None:
    with pytest.raises(ConfigError, match="coarse_refine.*-1"):
        MotionFrontEnd(MotionSettings(coarse_refine=-1))


def test_corrupt_flow_statistics_name_the_file(tmp_path: Path, fitted_flow: FlowModel) -> None:
    params = fitted_flow.save(tmp_path)
    (tmp_path / "flow_stats.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match="flow_stats.json"):
        FlowModel.load(tmp_path, params)


def test_objects_bank_from_before_the_rigidity_features_is_refused(tmp_path: Path, fitted_objects: ObjectsModel) -> None:
    params = fitted_objects.save(tmp_path)
    assert fitted_objects.bank is not None and fitted_objects.mean is not None and fitted_objects.std is not None
    with open(tmp_path / "objects_bank.npz", "wb") as fh:  # a version-1 bank: 7 features, no coherence/spread
        np.savez(fh, bank=fitted_objects.bank[:, :7], mean=fitted_objects.mean[:7], std=fitted_objects.std[:7])
    with pytest.raises(ModelFileError, match=r"objects_bank.npz has shape \(\d+, 7\), expected \(n, 9\)"):
        ObjectsModel.load(tmp_path, params)


def test_bad_params_name_the_value() -> None:
    with pytest.raises(ConfigError, match="'sideways'"):
        FlowModel(normalize="sideways")
    with pytest.raises(ConfigError, match="k=0"):
        ObjectsModel(k=0)
    with pytest.raises(ConfigError, match="gap must be >= 1 frame, got 0"):
        MotionFrontEnd(MotionSettings(gap=0))


def test_front_end_is_computed_once_per_frame_for_all_models(normal_sim: list[SimFrame]) -> None:
    clear_cache()
    a, b = MotionFrontEnd(MotionSettings()), MotionFrontEnd(MotionSettings())
    frames = to_frames(normal_sim[:5])
    results = []
    for f in frames:
        ma, mb = a(f), b(f)
        assert ma is mb  # the second model got the cached result
        results.append(ma)
    computed = [m for m in results if m is not None]
    assert len(computed) >= len(frames) - 1  # not two Nones: the front end ran (all but the first frame)
    assert len({id(m) for m in computed}) == len(computed)  # and once per frame, not one stale result


def test_frames_seen_once_are_still_shared_between_models_but_not_kept(normal_sim: list[SimFrame]) -> None:
    """``motion_cache(store=False)`` (validation's synthetic clips): each frame's flow is computed once
    for all the models scoring it, and afterwards none of those frames is cached."""
    clear_cache()
    a, b = MotionFrontEnd(MotionSettings()), MotionFrontEnd(MotionSettings())
    frames = to_frames(normal_sim[:6])
    with motion_cache(store=False):
        seen = [(a(f), b(f)) for f in frames]
    assert all(ma is mb for ma, mb in seen) and sum(ma is not None for ma, _ in seen) == len(frames) - 1
    a.reset()
    again = [a(f) for f in frames]  # computed afresh: new objects, equal values
    assert all(m is not s for m, (s, _) in zip(again[1:], seen[1:], strict=True))
    assert all(np.array_equal(m.coarse, s.coarse) for m, (s, _) in zip(again[1:], seen[1:], strict=True))


def test_masked_pixels_carry_no_motion(normal_sim: list[SimFrame]) -> None:
    frames = to_frames(normal_sim[:10])
    valid = np.zeros(frames[0].shape, bool)  # everything masked
    front = MotionFrontEnd(MotionSettings())
    clear_cache()
    results = [front(Frame(f.index, f.ts, f.gray, valid=valid)) for f in frames]
    assert all(r is None or (not r.candidates and not r.coarse.any()) for r in results)


def test_cell_normalised_flow_still_ranks_fast_objects_first(normal_sim: list[SimFrame], anomalous_sim: list[SimFrame]) -> None:
    model = FlowModel(normalize="cell")
    model.fit(_clips(normal_sim))
    assert roc_auc(_fast_labels(anomalous_sim), _scores(model, anomalous_sim)) > 0.8


def test_objects_bank_is_capped_with_a_fixed_seed(normal_sim: list[SimFrame]) -> None:
    a, b = ObjectsModel(bank_size=50, seed=3), ObjectsModel(bank_size=50, seed=3)
    a.fit(_clips(normal_sim))
    b.fit(_clips(normal_sim))
    assert a.bank is not None and b.bank is not None and a.bank.shape == (50, 9)
    np.testing.assert_array_equal(a.bank, b.bank)


def test_objects_default_bank_keeps_every_normal_object(normal_sim: list[SimFrame]) -> None:
    shipped, uncapped, capped = ObjectsModel(), ObjectsModel(bank_size=10**9), ObjectsModel(bank_size=50)
    for m in (shipped, uncapped, capped):
        m.fit(_clips(normal_sim))
    assert shipped.bank is not None and uncapped.bank is not None and capped.bank is not None
    assert len(uncapped.bank) > 50 and len(capped.bank) == 50  # the control: a cap below the object count subsamples
    np.testing.assert_array_equal(shipped.bank, uncapped.bank)
    # and so it is for a training set of the size, 2,550 frames at the front end's regions per frame
    assert shipped.bank_size >= 2550 * MotionSettings().candidates


def test_flow_magnitude_is_the_norm_of_each_vector_bit_for_bit() -> None:
    flow = np.random.default_rng(0).normal(0.0, 3.0, (120, 180, 2)).astype(np.float32)
    flow[0, :4] = [[0.0, 0.0], [3.0, 4.0], [-1e-20, 1e-20], [1e18, 1e18]]  # zero, exact, underflow, huge
    expected = np.sqrt((flow * flow).sum(-1))  # how the front end computed it before
    np.testing.assert_array_equal(magnitude(flow), expected)
    assert magnitude(flow)[0, 1] == 5.0 and magnitude(flow[:, :, ::-1]).dtype == np.float32


def test_unknown_coarse_preset_is_named() -> None:
    with pytest.raises(ConfigError, match="'turbo'"):
        MotionFrontEnd(MotionSettings(coarse_preset="turbo"))


def _object_pair(upper_dx: int, lower_dx: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 240x360 frames with one textured walker-sized (16x28) object whose halves move by the given steps."""
    rng = np.random.default_rng(0)
    texture = rng.integers(40, 220, (28, 16), dtype=np.uint8)
    background = np.full((240, 360), 128, np.uint8)
    a, b = background.copy(), background.copy()
    a[100:128, 150:166] = texture
    b[100:114, 150 + upper_dx:166 + upper_dx] = texture[:14]
    b[114:128, 150 + lower_dx:166 + lower_dx] = texture[14:]
    return a, b


def test_front_end_tells_a_rigid_mover_from_an_articulated_one() -> None:
    front = MotionFrontEnd(MotionSettings(box=30, candidates=1))
    rigid = front.compute(*_object_pair(4, 4)).candidates[0]
    limbs = front.compute(*_object_pair(3, 6)).candidates[0]  # legs outpace the torso
    assert rigid.coherence > 0.9 and rigid.spread < 0.1
    assert limbs.coherence < rigid.coherence - 0.2
    assert limbs.spread > rigid.spread + 0.3
    opposite = front.compute(*_object_pair(4, -4)).candidates[0]  # halves moving apart: far from rigid, spread bounded
    assert opposite.coherence < rigid.coherence - 0.2 and 0.0 <= opposite.spread <= 1.0


def test_every_moving_candidate_has_the_size_of_its_moving_region(anomalous_sim: list[SimFrame]) -> None:
    front = MotionFrontEnd(MotionSettings(box=30))
    moving = [c for f in to_frames(anomalous_sim) if (m := front(f)) is not None for c in m.candidates if c.speed > 1.0]
    assert len(moving) > 300
    # the peak of the box-mean speed can sit on a pixel outside the moving mask (between two legs, at
    # an edge): the object is then the region filling most of its window, not a 0 x 0 box
    assert all(c.h > 0 and c.w > 0 and c.area > 0 for c in moving)


def test_coarse_scale_outside_the_pyramid_is_named() -> None:
    with pytest.raises(ConfigError, match="coarse_scale.*5"):
        MotionFrontEnd(MotionSettings(coarse_scale=5))


def _walker(x: float, y: float, dx: float, feature: float) -> tuple[Candidate, np.ndarray]:
    c = Candidate(x=int(round(x)), y=int(round(y)), speed=abs(dx), dx=dx, dy=0.0, h=20, w=10, area=150)
    return c, np.full(len(FEATURES), feature, np.float32)


def test_tracker_keeps_two_crossing_objects_apart_and_averages_each_over_its_window() -> None:
    tracker = ObjectTracker(max_dist=30.0, window_s=0.5)
    gray = np.zeros((240, 360), np.uint8)
    seen: list[list[Track]] = []
    for i in range(12):  # 10 fps; one object goes right, one left, passing each other at frame 5-6
        frame = Frame(index=i, ts=i / 10, gray=gray)
        a, fa = _walker(100 + 10 * i, 120, dx=20.0, feature=float(i))  # flow over gap=2 frames: 20 px
        b, fb = _walker(210 - 10 * i, 128, dx=-20.0, feature=100.0 + i)
        seen.append(tracker.update(frame, (a, b), np.stack([fa, fb]), gap=2))
    ids = {id(t) for t in seen[0]}
    assert all({id(t) for t in tracks} == ids for tracks in seen), "identities swapped or lost"
    right, left = seen[-1]
    assert len(right.history) == 5  # the last 0.5 s of frames
    assert right.features()[0] == pytest.approx(np.mean(range(7, 12)))
    assert left.features()[0] == pytest.approx(100 + np.mean(range(7, 12)))


def test_tracker_ends_a_track_unseen_for_longer_than_the_gap() -> None:
    tracker = ObjectTracker(max_dist=30.0, window_s=1.0, max_gap_s=0.3)
    gray = np.zeros((240, 360), np.uint8)
    c, f = _walker(100, 100, dx=0.0, feature=1.0)
    first = tracker.update(Frame(index=0, ts=0.0, gray=gray), (c,), f[None], gap=2)[0]
    assert tracker.update(Frame(index=2, ts=0.2, gray=gray), (c,), f[None], gap=2)[0] is first
    assert tracker.update(Frame(index=7, ts=0.7, gray=gray), (c,), f[None], gap=2)[0] is not first


def test_objects_evidence_says_how_long_the_object_was_tracked(fitted_objects: ObjectsModel,
                                                               anomalous_sim: list[SimFrame]) -> None:
    fitted_objects.reset()
    scored = [fitted_objects.score(f) for f in to_frames(anomalous_sim)]
    boxes = [e.label for s in scored for e in s.evidence if e.kind == "box"]
    tracked = [int(label.split("tracked for ")[1].split(" frames")[0]) for label in boxes]
    spans = [int(label.split("the last ")[1].rstrip(")")) for label in boxes]
    assert tracked and max(tracked) >= 5  # objects are followed over frames, not scored one frame at a time
    assert 1 <= min(spans) and max(spans) <= fitted_objects.track_s * 10 + 1  # the simulator runs at 10 fps


def test_objects_track_window_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="track_s.*0"):
        ObjectsModel(track_s=0)
