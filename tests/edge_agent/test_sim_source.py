"""``sim:SEED``: the simulator as a live camera (demo and soak tests)."""

from __future__ import annotations

import pytest

from edge_agent.errors import SourceError
from edge_agent.pipeline.sources import RawFrame, SimSource, StreamEvent, open_source


def test_sim_source_yields_the_simulator_scene_with_stream_events() -> None:
    items = list(SimSource(4, fps=10, realtime=False, frames=25))
    assert isinstance(items[0], StreamEvent) and items[0].status == "opened"
    assert isinstance(items[-1], StreamEvent) and items[-1].status == "ended"
    frames = [i for i in items if isinstance(i, RawFrame)]
    assert [f.index for f in frames] == list(range(25))
    assert frames[1].ts == pytest.approx(0.1) and frames[0].image.shape == (240, 360)


def test_sim_spec_is_parsed_and_a_bad_one_is_refused() -> None:
    live, asap = open_source("sim:7", fps=5), open_source("sim:7:asap")
    assert isinstance(live, SimSource) and live.realtime and live.fps == 5
    assert isinstance(asap, SimSource) and not asap.realtime
    for bad in ("sim:abc", "sim:7:slow"):
        with pytest.raises(SourceError, match="'sim:SEED'"):
            open_source(bad)
