"""Causal per-key smoothing of calibrated scores: a short median, then an asymmetric EMA.

* **Median** over the frames of the last ``median_s`` seconds (this frame included): a
  single-frame glitch cannot pass a 3-frame median, and a real rise passes it after one or two
  frames - unlike a long EMA, which removes glitches only by lagging every rise.
* **Attack / release EMA**: rises follow with time constant ``attack_s / 2`` and falls with
  ``release_s / 2`` (a ``W`` second window has time constant ``W / 2``, as an N-frame EMA has
  alpha = 2 / (N + 1)), so ``alpha = 1 - exp(-dt / tau)`` for the real frame gap ``dt``. A short
  attack keeps an event's start on time; a longer release holds a score through a brief dip.

``attack_s == release_s == W`` is the plain EMA of window ``W`` (:func:`Ema`); all zero passes
values through. Irregular frame rates and dropped frames are handled by using the actual gaps.
"""

from __future__ import annotations

import math
from collections import deque


class Smoother:
    """Per-key causal median (``median_s``) followed by an attack/release EMA."""

    def __init__(self, median_s: float = 0.0, attack_s: float = 0.0, release_s: float = 0.0) -> None:
        self.median_s = median_s
        self.tau_up = attack_s / 2.0
        self.tau_down = release_s / 2.0
        self.value: dict[str, float] = {}
        self.recent: dict[str, deque[tuple[float, float]]] = {}
        self.last_ts: float | None = None

    @property
    def passthrough(self) -> bool:
        return self.median_s <= 0 and self.tau_up <= 0 and self.tau_down <= 0

    def reset(self) -> None:
        self.value.clear()
        self.recent.clear()
        self.last_ts = None

    def _median(self, key: str, ts: float, x: float) -> float:
        window = self.recent.setdefault(key, deque())
        window.append((ts, x))
        while window and window[0][0] <= ts - self.median_s + 1e-6:
            window.popleft()
        values = sorted(v for _, v in window)
        n = len(values)
        return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])

    def __call__(self, ts: float, scores: dict[str, float]) -> dict[str, float]:
        if self.passthrough:
            return dict(scores)
        dt = 0.0 if self.last_ts is None else max(0.0, ts - self.last_ts)
        self.last_ts = ts
        up = 1.0 - math.exp(-dt / self.tau_up) if self.tau_up > 0 and dt > 0 else (1.0 if self.tau_up <= 0 else 0.0)
        down = 1.0 - math.exp(-dt / self.tau_down) if self.tau_down > 0 and dt > 0 else (1.0 if self.tau_down <= 0 else 0.0)
        out: dict[str, float] = {}
        for key, x in scores.items():
            if self.median_s > 0 and math.isfinite(x):
                x = self._median(key, ts, x)
            prev = self.value.get(key)
            if prev is None or not math.isfinite(prev):
                v = x
            else:
                v = prev + (up if x > prev else down) * (x - prev)
            self.value[key] = v
            out[key] = v
        return out


def Ema(window_s: float) -> Smoother:  # noqa: N802 - reads as the class it was
    """The plain causal EMA of window ``window_s`` seconds (0 passes values through)."""
    return Smoother(attack_s=window_s, release_s=window_s)
