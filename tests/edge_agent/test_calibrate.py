"""Calibration maps each model's raw scores onto one scale: normal ~ 0, normal high tail ~ 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.errors import BundleError, ConfigError
from edge_agent.pipeline.calibrate import Calibrator


def test_typical_normal_maps_to_zero_and_the_high_tail_to_one() -> None:
    raw = np.random.default_rng(0).gamma(2.0, 3.0, 5000)
    cal = Calibrator.fit(raw)
    assert cal(float(np.median(raw))) == pytest.approx(0.0, abs=1e-9)
    assert cal(float(np.percentile(raw, 99))) == pytest.approx(1.0, abs=1e-9)
    assert np.mean(cal.apply(raw) < 1.0) == pytest.approx(0.99, abs=0.002)


def test_outliers_score_above_one_on_any_raw_scale() -> None:
    rng = np.random.default_rng(1)
    for scale in (0.01, 1.0, 1000.0):
        normal = rng.normal(5.0, 1.0, 2000) * scale
        cal = Calibrator.fit(normal)
        assert cal(float(normal.max() * 3)) > 1.0
        assert abs(float(np.median(cal.apply(normal)))) < 0.05


def test_two_models_on_different_scales_become_comparable() -> None:
    rng = np.random.default_rng(2)
    speed, error = rng.gamma(3.0, 0.5, 3000), rng.gamma(3.0, 0.5, 3000) * 1e-3
    a, b = Calibrator.fit(speed), Calibrator.fit(error)
    assert a(float(np.percentile(speed, 99))) == pytest.approx(b(float(np.percentile(error, 99))))


def test_quiet_frames_are_floored_and_non_finite_scores_are_neutral() -> None:
    cal = Calibrator.fit(np.linspace(10.0, 11.0, 101))
    assert cal(-1e9) == cal.floor == -1.0
    assert cal(float("nan")) == 0.0
    assert cal.apply(np.array([np.inf, np.nan])).tolist() == [0.0, 0.0]


def test_constant_or_empty_normal_footage_still_gives_a_usable_map() -> None:
    const = Calibrator.fit(np.full(100, 2.0))
    assert const(2.0) == 0.0 and const(2.01) > 1.0
    empty = Calibrator.fit(np.array([np.nan]))
    assert empty(0.5) == 0.5 and empty.n == 0


def test_round_trips_through_the_manifest_dict() -> None:
    cal = Calibrator.fit(np.arange(1000.0), percentile=95.0)
    again = Calibrator.from_dict(cal.to_dict())
    assert again == cal
    assert math.isclose(again(500.0), cal(500.0))


def test_bad_percentile_and_bad_manifest_name_the_value() -> None:
    with pytest.raises(ConfigError, match="got 100"):
        Calibrator.fit(np.arange(10.0), percentile=100)
    with pytest.raises(BundleError, match="'zscore'"):
        Calibrator.from_dict({"kind": "zscore", "median": 0, "high": 1})
    with pytest.raises(BundleError, match="invalid"):
        Calibrator.from_dict({"kind": "median-percentile-linear", "median": "x", "high": 1})
