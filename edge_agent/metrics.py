"""Evaluation metrics as plain numpy functions (frame level and event level).

Scores: higher = more anomalous. Labels: 1 = anomalous, 0 = normal. Ties are handled the way
ROC analysis expects (tied scores move together), so results match scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores contain {int((~np.isfinite(s)).sum())} non-finite values")
    return y, s


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds (descending), starting at (0, 0)."""
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    pos, neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fps / neg], np.r_[0.0, tps / pos], np.r_[np.inf, s[distinct]]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y, _ = _check(labels, scores)
    if y.all() or not y.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Step-wise average precision (sum over thresholds of precision x recall increase)."""
    y, s = _check(labels, scores)
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]
    tps = np.cumsum(y)[distinct].astype(np.float64)
    precision = tps / (distinct + 1)
    recall = tps / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The rate where false-positive rate equals false-negative rate (interpolated on the ROC curve)."""
    y, _ = _check(labels, scores)
    if y.all() or not y.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    diff = fpr - fnr
    i = int(np.nonzero(diff >= 0)[0][0])
    if i == 0:
        return float(fpr[0])
    d0, d1 = diff[i - 1], diff[i]
    t = d0 / (d0 - d1) if d1 != d0 else 0.0
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def macro_auc(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> tuple[float, int]:
    """Mean of per-clip AUCs over clips holding both classes, and how many clips that was."""
    aucs = [roc_auc(y, s) for y, s in zip(labels, scores, strict=True)]
    valid = [a for a in aucs if np.isfinite(a)]
    return (float(np.mean(valid)) if valid else float("nan")), len(valid)


# ---------------------------------------------------------------- events
def intervals(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (start, end) index runs where ``mask`` is true."""
    m = np.asarray(mask).astype(np.int8).ravel()
    edges = np.diff(np.r_[0, m, 0])
    starts = np.nonzero(edges == 1)[0]
    ends = np.nonzero(edges == -1)[0] - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class EventStats:
    gt_events: int
    caught: int
    delays_s: tuple[float, ...]
    alerts: int  # alert intervals in total
    false_alerts: int  # alert intervals touching no ground-truth interval

    @property
    def caught_share(self) -> float:
        return self.caught / self.gt_events if self.gt_events else float("nan")

    @property
    def median_delay_s(self) -> float:
        return float(np.median(self.delays_s)) if self.delays_s else float("nan")


def event_stats(truth: np.ndarray, alert: np.ndarray, ts: np.ndarray) -> EventStats:
    """Match alert intervals to ground-truth intervals of one clip.

    A ground-truth interval is caught when an alert is on during it; its delay is the time from
    the interval's start to the first alerting frame inside it. An alert interval that overlaps
    no ground-truth interval is a false alert.
    """
    truth = np.asarray(truth).astype(bool)
    alert = np.asarray(alert).astype(bool)
    gt, al = intervals(truth), intervals(alert)
    caught, delays = 0, []
    for a, b in gt:
        hits = np.nonzero(alert[a:b + 1])[0]
        if hits.size:
            caught += 1
            delays.append(float(ts[a + int(hits[0])] - ts[a]))
    false = sum(1 for a, b in al if not truth[a:b + 1].any())
    return EventStats(len(gt), caught, tuple(delays), len(al), false)


def merge_event_stats(parts: Sequence[EventStats]) -> EventStats:
    return EventStats(sum(p.gt_events for p in parts), sum(p.caught for p in parts),
                      tuple(d for p in parts for d in p.delays_s), sum(p.alerts for p in parts),
                      sum(p.false_alerts for p in parts))


def poisson_upper(events: int, confidence: float = 0.95) -> float:
    """The exact (Garwood) upper confidence bound on a Poisson mean after ``events`` were counted:
    the rate at which seeing ``events`` or fewer is only ``1 - confidence`` likely. With none seen
    it is -ln(0.05) = 3.0 at 95% (the "rule of three"): 0 false events in 4 minutes bounds the rate
    at 45 per hour, not at zero."""
    if events < 0 or not 0 < confidence < 1:
        raise ValueError(f"need events >= 0 and 0 < confidence < 1, got {events}, {confidence}")

    def at_most(lam: float) -> float:  # P(X <= events) for X ~ Poisson(lam)
        term = total = math.exp(-lam)
        for i in range(1, events + 1):
            term *= lam / i
            total += term
        return total

    lo, hi = 0.0, events + 10.0 + 10.0 * math.sqrt(events + 1)
    for _ in range(100):  # at_most falls as lam grows
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at_most(mid) > 1 - confidence else (lo, mid)
    return (lo + hi) / 2


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value for two detectors judged on the same cases: ``only_a`` cases
    caught by the first alone, ``only_b`` by the second alone (cases both or neither caught say
    nothing about which is better). Under "equally good" each such case is a fair coin."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"counts must be >= 0, got {only_a}, {only_b}")
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


__all__ = ["EventStats", "average_precision", "equal_error_rate", "event_stats", "intervals", "macro_auc",
           "mcnemar_exact", "merge_event_stats", "poisson_upper", "roc_auc", "roc_curve"]
