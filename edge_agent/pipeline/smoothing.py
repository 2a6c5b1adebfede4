"""Causal exponential moving average with its window in seconds (fps-aware via real timestamps).

For a window ``W`` seconds the time constant is ``W / 2`` (an N-frame EMA has alpha = 2/(N+1),
i.e. about ``2 * dt / W`` per frame), so ``alpha = 1 - exp(-dt / (W / 2))`` for a frame gap ``dt``.
Irregular frame rates and dropped frames are handled by using the actual gap.
"""

from __future__ import annotations

import math


class Ema:
    """Per-key causal EMA. ``window_s == 0`` passes values through."""

    def __init__(self, window_s: float) -> None:
        self.tau = window_s / 2.0
        self.value: dict[str, float] = {}
        self.last_ts: float | None = None

    def reset(self) -> None:
        self.value.clear()
        self.last_ts = None

    def __call__(self, ts: float, scores: dict[str, float]) -> dict[str, float]:
        if self.tau <= 0:
            return dict(scores)
        dt = 0.0 if self.last_ts is None else max(0.0, ts - self.last_ts)
        self.last_ts = ts
        alpha = 1.0 - math.exp(-dt / self.tau) if dt > 0 else 0.0
        out: dict[str, float] = {}
        for key, x in scores.items():
            prev = self.value.get(key)
            v = x if prev is None or not math.isfinite(prev) else prev + alpha * (x - prev)
            self.value[key] = v
            out[key] = v
        return out
