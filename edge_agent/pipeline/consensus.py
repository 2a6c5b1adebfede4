"""Weighted k-of-n vote over calibrated, smoothed scores, with per-shift thresholds and hysteresis.

Idle: a model votes when its score >= threshold (the shift's, else the default); the event opens
when the weighted votes reach ``k``. Open: a model keeps voting while its score >= threshold *
(1 - hysteresis); the event closes once the votes stayed below ``k`` for ``close_after_s``. So
noise around the threshold opens and closes an event once, not many times. A zone rule that
fires (``forced``) counts as reaching ``k``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from edge_agent.config import Consensus as ConsensusConfig


@dataclass(frozen=True, slots=True)
class Decision:
    is_open: bool
    change: Literal["start", "end"] | None
    votes: float
    voted: dict[str, bool]
    k: float
    threshold: float


class KofN:
    def __init__(self, cfg: ConsensusConfig, weights: dict[str, float], timezone: str = "UTC") -> None:
        self.cfg = cfg
        self.weights = dict(weights)
        self.k = cfg.k if cfg.k is not None else float(min(2, max(1, len(weights))))
        self.tz = ZoneInfo(timezone)
        self.is_open = False
        self.last_active: float | None = None

    def reset(self) -> None:
        self.is_open = False
        self.last_active = None

    def threshold(self, ts: float) -> float:
        if not self.cfg.shifts:
            return self.cfg.threshold
        # live sources give epoch timestamps; files give offsets, so use the wall clock for those
        epoch = ts if ts > 1e9 else time.time()
        return self.cfg.threshold_at(dt.datetime.fromtimestamp(epoch, self.tz).time())

    def __call__(self, ts: float, scores: dict[str, float], *, forced: bool = False) -> Decision:
        thr = self.threshold(ts)
        level = thr * (1.0 - self.cfg.hysteresis) if self.is_open else thr
        voted = {name: scores.get(name, 0.0) >= level for name in self.weights}
        votes = sum(self.weights[n] for n, v in voted.items() if v)
        active = forced or votes >= self.k
        change: Literal["start", "end"] | None = None
        if active:
            self.last_active = ts
            if not self.is_open:
                self.is_open, change = True, "start"
        elif self.is_open and self.last_active is not None and ts - self.last_active >= self.cfg.close_after_s:
            self.is_open, change = False, "end"
        return Decision(self.is_open, change, votes, voted, self.k, thr)
