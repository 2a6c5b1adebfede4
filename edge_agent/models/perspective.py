"""The camera's perspective, learned from its normal footage: how tall a moving object is at each image row.

A fixed camera looking down a walkway sees a person near it several times taller, and moving
several times more pixels per second, than the same person far away. Raw pixel sizes and speeds
therefore mean different things in different rows, and a model that compares them with normal
objects needs normal examples at every row. Dividing them by the *expected object height at that
row* makes them comparable everywhere ("body heights per second"), which is what lets an object
model trained on one part of the frame judge another, and what makes the same features mean the
same on a camera with stronger perspective.

:meth:`Perspective.fit` takes the moving objects of normal footage (image row, moving-region
height), takes the median height in each of ``bands`` horizontal bands that hold at least
``min_count`` objects, and fits a straight line through those medians (weighted by the square root
of their counts): height = ``intercept + slope * row`` with ``row`` in [0, 1] from the top. With
fewer than two usable bands the line is flat at the overall median. The expected height is kept
within [``floor``, ``ceiling``] times the overall median, so a steep fit never divides by a tiny
or negative height at the edge of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.errors import ModelFileError


@dataclass(frozen=True, slots=True)
class Perspective:
    intercept: float  # expected height (pixels) at the top row
    slope: float  # change of expected height from the top row to the bottom row (pixels)
    median: float  # median height of every normal object (pixels)
    floor: float = 0.3
    ceiling: float = 3.0

    @classmethod
    def fit(cls, rows: np.ndarray, heights: np.ndarray, *, bands: int = 8, min_count: int = 15) -> Perspective:
        """``rows``: objects' image rows in [0, 1]; ``heights``: their heights in pixels (zeros are skipped)."""
        rows, heights = np.asarray(rows, np.float64), np.asarray(heights, np.float64)
        keep = heights >= 4.0  # a region of a few pixels is flow noise, not an object
        rows, heights = rows[keep], heights[keep]
        if heights.size == 0:
            return cls(intercept=30.0, slope=0.0, median=30.0)
        median = float(np.median(heights))
        band = np.minimum((np.clip(rows, 0.0, 1.0) * bands).astype(int), bands - 1)
        centres, medians, weights = [], [], []
        for b in range(bands):
            h = heights[band == b]
            if h.size >= min_count:
                centres.append((b + 0.5) / bands)
                medians.append(float(np.median(h)))
                weights.append(float(np.sqrt(h.size)))
        if len(centres) < 2:
            return cls(intercept=median, slope=0.0, median=median)
        slope, intercept = np.polyfit(centres, medians, 1, w=weights)
        return cls(intercept=float(intercept), slope=float(slope), median=median)

    def height(self, rows: np.ndarray | float) -> np.ndarray:
        """Expected object height (pixels) at image rows in [0, 1]."""
        h = self.intercept + self.slope * np.asarray(rows, np.float64)
        return np.clip(h, self.floor * self.median, self.ceiling * self.median)

    def to_dict(self) -> dict[str, float]:
        return {"intercept": self.intercept, "slope": self.slope, "median": self.median}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Perspective:
        try:
            p = cls(intercept=float(data["intercept"]), slope=float(data["slope"]), median=float(data["median"]))
        except (TypeError, ValueError, KeyError) as err:
            raise ModelFileError(f"{where}: perspective is unreadable ({err!r}); expected intercept, slope, median") from err
        if not p.median > 0:
            raise ModelFileError(f"{where}: perspective median height must be > 0, got {p.median}")
        return p


__all__ = ["Perspective"]
