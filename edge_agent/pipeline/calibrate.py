"""PLACEHOLDER calibrator - owned by the accuracy engineer, who replaces this file.

Keep the interface: ``Calibrator.fit(raw) -> Calibrator`` (raw = a model's raw scores on held-out
normal frames), ``__call__(raw) -> float`` (0 ~ typical normal, 1 ~ the normal footage's high
tail, so a vote threshold of 1.0 means the same for every model), ``to_dict()`` / ``from_dict()``.
This placeholder maps the median to 0 and the 99th percentile to 1 (linear).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Calibrator:
    median: float = 0.0
    high: float = 1.0

    @classmethod
    def fit(cls, raw: np.ndarray) -> Calibrator:
        values = np.asarray(raw, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            return cls()
        med = float(np.median(values))
        high = float(np.percentile(values, 99.0))
        return cls(median=med, high=high)

    def __call__(self, raw: float) -> float:
        span = self.high - self.median
        if span <= 1e-12:
            span = max(abs(self.median), 1.0) * 1e-3
        return float((raw - self.median) / span)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "placeholder-linear", "median": self.median, "high": self.high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(median=float(data.get("median", 0.0)), high=float(data.get("high", 1.0)))
