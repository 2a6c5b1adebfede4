"""Per-camera calibration of a model's raw score onto one comparable scale.

``Calibrator.fit(raw)`` takes the model's raw scores on *held-out normal* frames of the camera and
maps linearly so that the median of that footage goes to 0 and its ``percentile`` (99th by default)
to 1: ``1.0`` then means "as high as this camera's normal footage gets", for every model, so one
vote threshold means the same for all of them. Raw scores of anomaly models are open-ended
(speeds, distances, errors), so the map is not clipped above; below it is clipped at ``floor``
(-1 by default) so that a very quiet frame cannot cancel another model's vote in a fused mean.

The fitted statistics (median, high, the percentile used, sample count) go into the bundle
manifest (``to_dict``) and come back with ``from_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.errors import BundleError, ConfigError

KIND = "median-percentile-linear"


@dataclass(frozen=True)
class Calibrator:
    median: float = 0.0
    high: float = 1.0
    percentile: float = 99.0
    n: int = 0
    floor: float = -1.0

    @classmethod
    def fit(cls, raw: np.ndarray, percentile: float = 99.0, floor: float = -1.0) -> Calibrator:
        """Statistics of ``raw`` (non-finite values are ignored); an empty sample gives the identity map."""
        if not 50.0 < percentile < 100.0:
            raise ConfigError(f"calibration percentile must be in (50, 100), got {percentile}")
        values = np.asarray(raw, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            return cls(percentile=percentile, floor=floor)
        med = float(np.median(values))
        high = float(np.percentile(values, percentile))
        if high - med <= 1e-9:  # constant normal footage: any rise above it counts, on the raw scale's own unit
            high = med + max(abs(med), 1.0) * 1e-3
        return cls(median=med, high=high, percentile=percentile, n=int(values.size), floor=floor)

    @property
    def span(self) -> float:
        return max(self.high - self.median, 1e-12)

    def __call__(self, raw: float) -> float:
        if not math.isfinite(raw):
            return 0.0
        return max(self.floor, (float(raw) - self.median) / self.span)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Vectorised ``__call__`` (non-finite values map to 0)."""
        x = np.asarray(raw, dtype=np.float64)
        out = np.maximum(self.floor, (x - self.median) / self.span)
        return np.where(np.isfinite(out), out, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "median": self.median, "high": self.high, "percentile": self.percentile, "n": self.n,
                "floor": self.floor}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        kind = data.get("kind", KIND)
        if kind not in (KIND, "placeholder-linear"):
            raise BundleError(f"unknown calibration kind {kind!r}; known: {[KIND]}")
        try:
            return cls(median=float(data["median"]), high=float(data["high"]),
                       percentile=float(data.get("percentile", 99.0)), n=int(data.get("n", 0)),
                       floor=float(data.get("floor", -1.0)))
        except (KeyError, TypeError, ValueError) as err:
            raise BundleError(f"calibration statistics are invalid ({err}): {data!r}") from err


__all__ = ["Calibrator"]
