"""Training-time validation: smoothing, the k-of-n level, synthetic anomalies, causality, and a
bench whose chosen settings cannot depend on the test labels."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.bench import main as bench_main
from edge_agent.config import CameraConfig, Consensus, Smoothing
from edge_agent.models.base import Frame
from edge_agent.models.bundle import load_bundle
from edge_agent.pipeline.build import build_pipeline
from edge_agent.pipeline.consensus import KofN
from edge_agent.pipeline.smoothing import Ema, Smoother
from edge_agent.pipeline.sources import RawFrame
from edge_agent.sim import render
from edge_agent.training.fit import fit_bundle
from edge_agent.training.synthetic import KINDS, DonorPool, synthesize
from edge_agent.training.validate import (CAUGHT_MARGIN, THRESHOLD_FLOOR, Candidate, gate_levels, pick, threshold_rule,
                                          validation_clips)

from .conftest import to_frames, write_sim_dataset


# ---------------------------------------------------------------- smoothing
def _series(smoother: Smoother, values: list[float], fps: float = 10.0) -> list[float]:
    return [smoother(i / fps, {"a": v})["a"] for i, v in enumerate(values)]


def test_a_three_frame_median_removes_a_one_frame_glitch_and_passes_a_rise_one_frame_late() -> None:
    glitch = _series(Smoother(median_s=0.3), [0, 0, 0, 5, 0, 0, 0])
    assert glitch == [0, 0, 0, 0, 0, 0, 0]
    step = _series(Smoother(median_s=0.3), [0, 0, 0, 5, 5, 5, 5])
    assert step.index(5) == 4  # one frame after the rise
    ema = _series(Ema(3.0), [0, 0, 0, 5, 0, 0, 0])
    assert 0 < max(ema) < 5  # the EMA only flattens a glitch, and it lags every rise
    assert _series(Ema(3.0), [0, 0, 0, 5, 5, 5, 5])[-1] < 3


def test_attack_follows_a_rise_at_once_and_release_holds_through_a_dip() -> None:
    out = _series(Smoother(attack_s=0.0, release_s=3.0), [0, 4, 4, 0, 0, 4])
    assert out[1] == 4 and out[3] > 2.5 and out[5] == 4  # a 0.2 s dip keeps most of the score
    assert _series(Smoother(), [0, 4, 0]) == [0, 4, 0]  # all zero: values pass through


def test_smoothing_config_keeps_the_plain_ema_meaning_of_window_s() -> None:
    s = Smoothing(window_s=2.0)
    assert (s.attack_s, s.release_s, s.median_s) == (2.0, 2.0, 0.0)
    assert Smoothing().window_s is None


# ---------------------------------------------------------------- the k-of-n level
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 5, allow_nan=False), min_size=3, max_size=3),
       st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=3, max_size=3).filter(any),
       st.sampled_from([1.0, 2.0]), st.floats(0.1, 4.0, allow_nan=False))
def test_gate_level_is_where_kofn_opens(scores: list[float], weights: list[float], k: float, threshold: float) -> None:
    names = ["a", "b", "c"]
    used = {n: w for n, w in zip(names, weights, strict=True) if w > 0}
    level = gate_levels(np.array([[s for n, s in zip(names, scores, strict=True) if n in used]]), list(used.values()), k)[0]
    gate = KofN(Consensus(threshold=threshold, k=k), used)
    opened = gate(0.0, dict(zip(names, scores, strict=True))).is_open
    assert opened == (level >= threshold)


# ---------------------------------------------------------------- choosing
def _candidate(weights: dict[str, float], hits: int, delay_s: float = 0.5) -> Candidate:
    return Candidate(Smoothing(), weights, 1.0, auc=0.9, early_auc=0.8, threshold=1.5, hits=hits, anomalies=80,
                     delay_s=delay_s)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-2.0, max_value=40.0, allow_nan=False), min_size=1, max_size=30))
def test_the_threshold_is_the_lowest_step_no_normal_level_reaches(levels: list[float]) -> None:
    top = max(levels)
    threshold = threshold_rule([np.asarray(levels)])
    assert threshold > top  # the normal footage raises no event, also past 5.0, where the steps once ended
    assert threshold == round(threshold, 1) and threshold >= THRESHOLD_FLOOR
    assert threshold == THRESHOLD_FLOOR or round(threshold - 0.1, 1) <= top  # and no lower step would do


def test_a_normal_level_past_the_old_5_0_end_gets_a_threshold_above_it() -> None:
    assert threshold_rule([np.array([0.4, 1.35])]) == 1.4  # control: below 5.0, its 0.1 step
    assert threshold_rule([np.array([0.4, 7.23]), np.array([-np.inf, 2.0])]) == 7.3  # not 5.0, which 7.23 crosses
    assert threshold_rule([np.array([-np.inf])]) == THRESHOLD_FLOOR


def test_more_models_are_chosen_only_when_they_catch_clearly_more() -> None:
    flow = _candidate({"flow": 1.0, "objects": 0.0}, 50)
    objects = _candidate({"flow": 0.0, "objects": 1.0}, 49, delay_s=0.2)
    pair = _candidate({"flow": 1.0, "objects": 1.0}, 50 + CAUGHT_MARGIN, delay_s=0.1)
    assert pick([pair, flow, objects]) is flow  # one more anomaly is noise: the single model that catches most
    clearly = _candidate({"flow": 1.0, "objects": 1.0}, 50 + CAUGHT_MARGIN + 1)
    assert pick([clearly, flow, objects]) is clearly  # positive control: clearly more, and the pair is chosen
    assert pick([flow, objects]) is flow  # among equals in models, the most caught still wins over a shorter delay


# ---------------------------------------------------------------- synthetic anomalies
def test_synthetic_anomalies_change_only_labelled_frames_and_repeat_with_the_seed() -> None:
    clips = [to_frames(render(80, seed=70 + i, normal_only=True)) for i in range(3)]
    made = synthesize(clips[0], DonorPool.of(clips[1:]), seed=5)
    again = synthesize(clips[0], DonorPool.of(clips[1:]), seed=5)
    assert [s.kind for s in made] == list(KINDS)
    for s, t in zip(made, again, strict=True):
        assert s.labels.any() and not s.labels[: int(0.4 * len(clips[0]))].any()
        assert all(np.array_equal(a.gray, b.gray) for a, b in zip(s.frames, t.frames, strict=True))
    for s in made[1:]:  # moving patches: frames outside the label are the original footage
        for frame, original, label in zip(s.frames, clips[0], s.labels, strict=True):
            if not label:
                assert np.array_equal(frame.gray, original.gray)
        assert any(not np.array_equal(f.gray, o.gray) for f, o in zip(s.frames, clips[0], strict=True))


def _band_clip(seed: int, band: tuple[int, int], n: int = 60) -> list[Frame]:
    """A textured still scene where one dark walker crosses, left to right, only within rows ``band``."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(120, 200, (240, 360)).astype(np.uint8)
    out = []
    for i in range(n):
        img = scene.copy()
        x = 10 + 5 * i
        img[band[0]:band[1], x:x + 12] = 30
        out.append(Frame(i, i / 10.0, img))
    return out


def test_synthetic_objects_cross_where_the_cameras_objects_move() -> None:
    band = (150, 186)  # the walkway: the only rows anything moves in
    held = _band_clip(1, band)
    made = {s.kind: s for s in synthesize(held, DonorPool.of([_band_clip(2, band), _band_clip(3, band)]), seed=7)}
    for kind in ("paste", "texture", "brisk"):
        changed = np.zeros(240, bool)
        for frame, original in zip(made[kind].frames, held, strict=True):
            changed |= (frame.gray != original.gray).any(axis=1)
        rows = np.nonzero(changed)[0]
        assert rows.size and band[0] - 40 <= rows.min() and rows.max() <= band[1] + 40, (kind, rows.min(), rows.max())


FAR, NEAR = (60, 70), (170, 200)  # rows of the small far walker and the large near one


def _two_depth_clip(seed: int, n: int = 80) -> list[Frame]:
    """A textured still scene seen with perspective: a far walker 10 px tall crosses at 1 px per
    frame, a near one 30 px tall at 3 px per frame (the same pace in body heights)."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(120, 200, (240, 360)).astype(np.uint8)
    out = []
    for i in range(n):
        img = scene.copy()
        img[FAR[0]:FAR[1], 20 + i:25 + i] = 30
        img[NEAR[0]:NEAR[1], 10 + 3 * i:24 + 3 * i] = 30
        out.append(Frame(i, i / 10.0, img))
    return out


def _crossing(made: list[Frame], held: list[Frame]) -> tuple[float, int, float]:
    """(centre row, height, median px per frame) of what a synthetic anomaly drew over ``held``."""
    tops, bottoms, centres = [], [], []
    for frame, original in zip(made, held, strict=True):
        ys, xs = np.nonzero(frame.gray != original.gray)
        if ys.size:
            tops.append(ys.min())
            bottoms.append(ys.max())
            centres.append(xs.mean())
    height = int(np.max(np.array(bottoms) - np.array(tops))) + 1
    steps = np.abs(np.diff(centres))
    return (min(tops) + max(bottoms)) / 2.0, height, float(np.median(steps[1:-1]))  # entering/leaving steps are partial


def test_synthetic_objects_take_the_size_and_pace_of_the_row_they_cross() -> None:
    """Every donor here is the near walker (the larger regions are chosen); pasted far up the
    scene it shrinks and slows to the far walker's scale, so ``paste`` and ``brisk`` are wrong
    only in speed - and ``large`` stays too large for its row (the positive control)."""
    held = _two_depth_clip(1)
    others = [_two_depth_clip(2), _two_depth_clip(3)]
    seen = {"far": [], "near": []}
    for seed in range(8):
        for s in synthesize(held, DonorPool.of(others), seed=seed):
            if s.kind not in ("paste", "brisk", "large"):
                continue
            centre, height, pace = _crossing(s.frames, held)
            where, walker = ("far", FAR[1] - FAR[0]) if centre < 120 else ("near", NEAR[1] - NEAR[0])
            if s.kind == "large":
                assert height >= 1.5 * walker, (where, height)
                continue
            assert 0.7 * walker <= height <= 1.4 * walker, (s.kind, where, height)
            seen[where].append(pace / (4.0 if s.kind == "paste" else 2.0))  # back to the walkers' own pace
    assert seen["far"] and seen["near"], seen  # both depths were drawn
    assert np.median(seen["far"]) < 0.6 * np.median(seen["near"]), seen  # fewer pixels per frame far away


def test_one_long_clip_is_cut_into_pieces_for_the_folds_and_too_little_is_refused() -> None:
    frames = to_frames(render(200, seed=1, normal_only=True))
    pieces, names = validation_clips([frames], 4)
    assert len(pieces) == 4 and sum(map(len, pieces)) == 200 and names[0] == "clip1#1"
    with pytest.raises(Exception, match="too few to validate"):
        validation_clips([frames[:100]], 4)


# ---------------------------------------------------------------- causality and tuning in the bundle
@pytest.fixture(scope="module")
def tuned_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cam = CameraConfig(id="v", source="sim", scene="outdoor",
                       models=[{"type": "flow"}, {"type": "objects"}, {"type": "autoencoder", "params": {"epochs": 1}},
                               {"type": "appearance"}])
    clips = [to_frames(render(90, seed=80 + i, normal_only=True)) for i in range(4)]
    return fit_bundle(cam, clips, tmp_path_factory.mktemp("tuned") / "bundle", folds=2)


@pytest.mark.slow
def test_train_stores_what_validation_chose_and_the_pipeline_applies_it(tuned_bundle: Path) -> None:
    tuning = load_bundle(tuned_bundle).manifest.tuning
    assert tuning is not None and set(tuning) >= {"weights", "k", "threshold", "smoothing", "validation"}
    v = tuning["validation"]
    # never below its best member on validation, by the figure validation ranks on: anomalies caught in time
    assert v["caught"] >= max(single["caught"] for single in v["best_single"].values()) - 1e-9
    assert set(v["events"]) >= {"false_alerts_per_hour", "false_alerts_per_hour_95", "synthetic_caught_share", "normal_seconds"}
    anomalies = v["events"]["synthetic_intervals"]
    singles = ((b["caught_by_kind"], b["caught"]) for b in v["best_single"].values())
    for by_kind, caught in [(v["caught_by_kind"], v["caught"]), *singles]:
        assert set(by_kind) == set(KINDS) and sum(n for _, n in by_kind.values()) == anomalies  # every anomaly, by its kind
        assert round(caught * anomalies) == sum(hit for hit, _ in by_kind.values())
    assert v["events"]["false_alerts_per_hour_95"] > (v["events"]["false_alerts_per_hour"] or 0)  # a bound, above the count
    r = v["runner_up"]  # validation's choice without the chosen models, and what tells the two apart
    assert not set(r["weights"]) & {n for n, w in tuning["weights"].items() if w > 0}
    assert round((v["caught"] - r["caught"]) * anomalies) == r["only_chosen"] - r["only_runner_up"]
    assert 0.0 < r["p"] <= 1.0
    cam = CameraConfig(id="v", source="sim", scene="outdoor")
    pipeline = build_pipeline(cam, bundle=tuned_bundle, warmup=False)
    assert pipeline.consensus.k == tuning["k"] and pipeline.camera.consensus.threshold == tuning["threshold"]
    assert {n: w for n, w in tuning["weights"].items() if w > 0} == pipeline.weights
    assert pipeline.camera.smoothing == Smoothing.model_validate(tuning["smoothing"])
    # what the camera's config sets explicitly wins over the bundle
    own = CameraConfig(id="v", source="sim", scene="outdoor", smoothing={"window_s": 2.0}, consensus={"threshold": 3.5})
    p2 = build_pipeline(own, bundle=tuned_bundle, warmup=False)
    assert p2.camera.smoothing.attack_s == 2.0 and p2.camera.consensus.threshold == 3.5


@pytest.mark.slow
def test_no_score_for_frame_t_depends_on_later_frames(tuned_bundle: Path) -> None:
    cam = CameraConfig(id="v", source="sim", scene="outdoor", models=[{"type": "flow"}, {"type": "objects"},
                                                                       {"type": "autoencoder"}, {"type": "appearance"}])
    base = render(60, seed=91, kinds=("fast",), warmup_s=1.0)
    other = render(60, seed=92, kinds=("fast",), warmup_s=1.0)
    t = 35
    changed = base[:t + 1] + other[t + 1:]

    def scores(frames: list) -> list[tuple[dict[str, float], dict[str, float], float]]:
        p = build_pipeline(cam, bundle=tuned_bundle, warmup=False)
        p.reset()
        out = []
        for f in frames:
            p.process_frame(RawFrame(f.index, f.ts, f.image))
            snap = p.last_snapshot
            assert snap is not None
            out.append(({n: s.raw for n, s in snap.raw.items()}, dict(snap.scores), snap.fused))
        return out

    a, b = scores(base), scores(changed)
    assert a[: t + 1] == b[: t + 1]
    assert a[t + 1:] != b[t + 1:]  # positive control: the later frames did change the later scores


@pytest.mark.slow
def test_no_model_of_the_bundle_scores_frame_t_by_later_frames(tuned_bundle: Path) -> None:
    """Every fitted model on its own, whatever weight validation gave it (a model weighted 0 is not run above)."""
    base = to_frames(render(60, seed=91, kinds=("fast",), warmup_s=1.0))
    other = to_frames(render(60, seed=92, kinds=("fast",), warmup_s=1.0))
    t = 35
    members = load_bundle(tuned_bundle).members
    assert {m.name for m in members} == {"flow", "objects", "autoencoder", "appearance"}
    for m in members:
        def raw(frames: list, model=m.model) -> list[float]:  # noqa: ANN001
            model.reset()
            return [model.score(f).raw for f in frames]

        a, b = raw(base), raw(base[:t + 1] + other[t + 1:])
        assert a[: t + 1] == b[: t + 1], m.name
        assert a != raw(other), m.name  # positive control: other footage gives other scores


# ---------------------------------------------------------------- the bench cannot see the test labels
def _fitted(out: Path) -> dict[str, object]:
    res = json.loads((out / "results.json").read_text())
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    manifest.pop("created")
    files = {p.relative_to(out / "bundle").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((out / "bundle" / "models").rglob("*")) if p.is_file()}
    return {"shipped": res["shipped"], "validation": {k: v for k, v in res["validation"].items() if k != "seconds"},
            "manifest": {k: v for k, v in manifest.items() if k != "training"} | {"tuning": None},
            "tuning": {k: v for k, v in manifest["tuning"].items() if k != "validation"}, "files": files,
            "test_auc": res["metrics"]["ensemble_gate"]["micro_auc"]}


@pytest.mark.slow
def test_shuffling_the_test_labels_changes_no_fitted_or_chosen_value(tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("true", None), ("shuffled", 7)):
        root = tmp_path / name
        write_sim_dataset(root, train=4, train_frames=70, test=2, test_frames=80, warmup_s=2.0, gap_s=(3.0, 4.0),
                          shuffle_seed=seed)
        out = tmp_path / f"out-{name}"
        assert bench_main(["--dataset", str(root), "--out", str(out), "--folds", "2", "--epochs", "1",
                           "--speed-frames", "10", "--no-plots"]) == 0
        runs[name] = _fitted(out)
    true, shuffled = runs["true"], runs["shuffled"]
    assert true["test_auc"] != shuffled["test_auc"]  # positive control: the labels did change the test figures
    for key in ("shipped", "validation", "manifest", "tuning", "files"):
        assert true[key] == shuffled[key], key


def _still_clips(n: int, frames: int) -> list[list[Frame]]:
    """A scene where nothing moves: textured, with a little sensor noise."""
    rng = np.random.default_rng(0)
    ground = rng.integers(60, 200, (120, 160), dtype=np.uint8)
    return [[Frame(index=i, ts=i / 10, gray=np.clip(ground + rng.integers(-2, 3, ground.shape), 0, 255).astype(np.uint8))
             for i in range(frames)] for _ in range(n)]


@pytest.mark.parametrize("moving", [True, False], ids=["walkers", "still scene"])
def test_validation_progress_ends_at_the_total_the_bar_was_given(moving: bool, caplog: pytest.LogCaptureFixture) -> None:
    """The bar of ``vad-edge train`` reaches 100%, also when no object moves to paste (fewer synthetic kinds)."""
    from edge_agent.training.validate import tune_camera, validation_work

    clips = ([to_frames(render(40, seed=s)) for s in (1, 2, 3)] if moving else _still_clips(3, 40))
    cam = CameraConfig(id="c", source="sim", models=[{"type": "test_cell_motion", "params": {"cell": 20}}])
    done: list[int] = []
    logger = logging.getLogger("edge_agent.training.validate")
    logger.addHandler(caplog.handler)  # an in-process `vad-edge` run may have stopped edge_agent propagating
    try:
        validation = tune_camera(cam, clips, progress=done.append)
    finally:
        logger.removeHandler(caplog.handler)
    assert sum(done) == validation_work(cam, clips, 3)
    kinds = {c.kind for fold in validation.folds for c in fold.clips}
    assert kinds == ({"normal", *KINDS} if moving else {"normal", "fast"})
    assert ("no moving object to paste" in caplog.text) is not moving
