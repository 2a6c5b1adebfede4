"""Metrics (cross-checked with scikit-learn), the k-of-n gate score, and the bench on a tiny Ped2 subset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_agent import metrics as M
from edge_agent.bench import FAR_SCALE, REFERENCE_REPEATS, TILT_TOP, far_view, main, parse_weights, tilted_view
from edge_agent.errors import EdgeError
from edge_agent.training.validate import gate_levels

from .conftest import write_sim_dataset

PED2 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ucsd_ped2"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_average_precision_match_sklearn_with_ties(seed: int) -> None:
    sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the AUC reference here (pip install scikit-learn)")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 400)
    s = np.round(rng.normal(size=400) + 0.8 * y, 1)  # rounding makes many ties
    assert M.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    assert M.average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)
    fpr, tpr, _ = sk.roc_curve(y, s, drop_intermediate=False)
    ours = M.roc_curve(y, s)
    np.testing.assert_allclose(ours[0], fpr)
    np.testing.assert_allclose(ours[1], tpr)


def test_eer_is_where_misses_equal_false_alarms() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert M.equal_error_rate(y, np.arange(8.0)) == 0.0
    assert M.equal_error_rate(y, -np.arange(8.0)) == 1.0
    assert M.equal_error_rate(y, np.array([0, 1, 2, 5, 3, 6, 7, 8.0])) == pytest.approx(0.25)


def test_one_class_gives_nan_and_macro_auc_skips_such_clips() -> None:
    assert np.isnan(M.roc_auc(np.zeros(5), np.arange(5.0)))
    macro, n = M.macro_auc([np.array([0, 1]), np.ones(3)], [np.array([0.0, 1.0]), np.arange(3.0)])
    assert (macro, n) == (1.0, 1)


def test_bad_metric_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="3 vs 2"):
        M.roc_auc(np.array([0, 1, 1]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="1 non-finite"):
        M.roc_auc(np.array([0, 1]), np.array([0.0, np.nan]))


def test_event_stats_catch_delay_and_false_alerts() -> None:
    truth = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 1], bool)
    alert = np.array([1, 0, 0, 1, 1, 1, 0, 0, 0, 0], bool)
    st = M.event_stats(truth, alert, np.arange(10) / 10.0)
    assert (st.gt_events, st.caught, st.alerts, st.false_alerts) == (2, 1, 2, 1)
    assert st.median_delay_s == pytest.approx(0.1)
    assert M.intervals(alert) == [(0, 0), (3, 5)]


@pytest.mark.parametrize(("events", "upper"), [(0, 2.996), (1, 4.744), (2, 6.296), (10, 16.962)])
def test_false_alert_rate_bound_is_the_exact_poisson_upper_limit(events: int, upper: float) -> None:
    """Published 95% one-sided limits (Garwood): 0 events in 4 min still allow 45 an hour."""
    assert M.poisson_upper(events) == pytest.approx(upper, abs=2e-3)
    assert M.poisson_upper(events, 0.99) > M.poisson_upper(events)
    with pytest.raises(ValueError, match="events >= 0"):
        M.poisson_upper(-1)


def test_mcnemar_exact_counts_only_the_cases_one_detector_alone_caught() -> None:
    assert M.mcnemar_exact(0, 6) == pytest.approx(2 / 64)  # six of six one way: a clear difference
    assert M.mcnemar_exact(6, 0) == M.mcnemar_exact(0, 6)  # which one is "first" does not matter
    assert M.mcnemar_exact(3, 3) == 1.0 and M.mcnemar_exact(0, 0) == 1.0  # no evidence either way
    assert M.mcnemar_exact(1, 2) == 1.0  # 79 against 78 of 80 could be this: nothing to choose by
    assert M.mcnemar_exact(2, 12) == pytest.approx(0.0129, abs=1e-4)
    with pytest.raises(ValueError, match=">= 0"):
        M.mcnemar_exact(-1, 2)


def test_gate_level_is_the_threshold_where_k_weighted_votes_agree() -> None:
    scores = np.array([[3.0, 0.5, 1.5], [0.2, 2.0, 0.1]])  # columns: flow, objects, autoencoder
    assert gate_levels(scores, [1, 1, 1], k=2).tolist() == [1.5, 0.2]  # the second-highest score
    assert gate_levels(scores, [2, 1, 1], k=2).tolist() == [3.0, 0.2]  # flow alone carries two votes
    assert gate_levels(scores, [1, 1, 1], k=4).tolist() == [-np.inf, -np.inf]  # never enough votes


def test_bad_weights_name_the_entry() -> None:
    with pytest.raises(EdgeError, match="'hog=1'"):
        parse_weights("flow=1,hog=1")
    assert parse_weights("flow=2, objects=1") == {"flow": 2.0, "objects": 1.0}


def test_the_far_variant_shows_the_scene_smaller_at_half_resolution() -> None:
    scene = np.zeros((240, 360), np.uint8)
    scene[100:140, 170:190] = 255  # a bright walker in the middle of the frame
    far = far_view(scene)
    assert far.shape == (120, 180)  # half the native resolution
    ys, xs = np.nonzero(far > 128)
    height = ys.max() - ys.min() + 1
    assert abs(height - 40 * FAR_SCALE / 2) <= 1 and abs(xs.mean() - 90) <= 1  # smaller, still centred
    assert far[:20].max() == 0 and far[:, :30].max() == 0  # a still surround: the frame's median grey


def test_the_tilt_variant_shrinks_the_far_end_of_the_scene() -> None:
    scene = np.zeros((240, 360), np.uint8)
    scene[10:50, 170:190] = 255  # the same walker near the top (far away) ...
    scene[190:230, 170:190] = 255  # ... and near the bottom (close by)
    tilt = tilted_view(scene)
    assert tilt.shape == (120, 180)  # half the native resolution

    def size(rows: slice) -> tuple[int, int]:
        ys, xs = np.nonzero(tilt[rows] > 128)
        return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)

    (top_h, top_w), (bottom_h, bottom_w) = size(slice(0, 40)), size(slice(80, 120))
    assert top_w <= 0.6 * bottom_w and top_h < bottom_h  # narrower and squeezed: farther away
    assert abs(bottom_w - 10) <= 1  # the bottom edge keeps its scale (at half resolution)
    assert tilt[5, :int(90 * (1 - TILT_TOP)) - 5].max() == 0  # outside the trapezoid: a still surround


def test_an_unknown_variant_is_refused_with_the_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", str(tmp_path), "--variant", "closer"])
    assert exc.value.code == 2 and "far" in capsys.readouterr().err


def test_missing_dataset_exits_2_with_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.ped2
@pytest.mark.slow
@pytest.mark.skipif(not PED2.is_dir(), reason=f"UCSD Ped2 not present at {PED2}")
def test_bench_on_a_tiny_ped2_subset_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    rc = main(["--dataset", str(PED2), "--out", str(out), "--train-clips", "4", "--test-clips", "3",
               "--max-frames", "40", "--epochs", "1", "--folds", "2", "--speed-frames", "20"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["secondary"] == ["--epochs"]  # labelled: not the shipped configuration
    for name in ("flow", "objects", "autoencoder", "ensemble_fused", "ensemble_gate"):
        assert set(res["metrics"][name]) >= {"micro_auc", "macro_auc", "ap", "eer"}
        assert 0.0 <= res["metrics"][name]["micro_auc"] <= 1.0
    assert set(res["metrics"]["ensemble_gate"]["events"]) >= {"caught_share", "median_delay_s", "false_events"}
    assert set(res["validation"]) >= {"auc", "best_single_auc", "events", "auc_by_kind"}
    assert set(res["speed"]) >= {"pipeline_fps_excl_decode", "pipeline_fps_incl_decode", "latency_ms_p50",
                                 "latency_ms_p99", "peak_rss_mb", "model_fps", "agent_peak_rss_mb", "reference_ms"}
    assert res["speed"]["reference_ms"] > 0  # the machine's speed in the same run, to compare latencies across runs by
    assert res["speed"]["reference_timings"] == 3 * REFERENCE_REPEATS  # taken after each test clip, not in one burst
    train = res["train"]  # training's seconds are validation's and the final fit's together
    assert train["seconds"] >= train["validation_seconds"] + train["fit_seconds"] - 0.5 and train["fit_seconds"] > 0
    assert res["clips"]["training"] == ["01", "02", "03", "04"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["01.png", "02.png", "03.png"]
    assert (out / "bundle" / "manifest.json").is_file()


@pytest.mark.slow
def test_bench_runs_on_any_folder_laid_out_like_ped2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Simulator footage in the Ped2 layout: the bench needs no Ped2 and finds the fast objects."""
    root = tmp_path / "sim"
    labels = write_sim_dataset(root, train=6, train_frames=100, test=2, test_frames=200, warmup_s=3.0, gap_s=(4.0, 6.0))
    out = tmp_path / "bench"
    assert main(["--dataset", str(root), "--out", str(out), "--epochs", "1", "--folds", "3", "--speed-frames", "20",
                 "--no-plots"]) == 0
    res = json.loads((out / "results.json").read_text())
    metrics = res["metrics"]
    by_kind = res["validation"]["caught_by_kind"]  # which ways of being abnormal validation's choice catches
    printed = capsys.readouterr().out
    assert "caught in time by kind (of " in printed and "; flow fast " in printed, printed
    assert f"chosen fast {by_kind['fast'][0]}, paste {by_kind['paste'][0]}" in printed
    assert all(0 < sum(map(int, text)) < len(text) for text in labels.values())
    for name in ("flow", "objects", "autoencoder", "ensemble_fused", "ensemble_gate"):  # about 0.96-0.97 each
        assert metrics[name]["micro_auc"] > 0.85, (name, metrics[name])
