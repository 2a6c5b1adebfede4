"""Zone rules from tracks: intrusion, loitering, line crossing and wrong way."""

from __future__ import annotations

import numpy as np

from edge_agent.config import CameraConfig, Polygon, Zone
from edge_agent.models.base import Frame
from edge_agent.models.registry import load_model
from edge_agent.pipeline.build import build_pipeline
from edge_agent.pipeline.events import EventMessage
from edge_agent.sim import render, sim_zones

from .conftest import raw_frames, to_frames

BACKGROUND = 120


def _blob_frames(path: list[tuple[float, float]], fps: float = 10.0) -> list[Frame]:
    """A dark 12x28 'person' whose foot point follows ``path`` (pixels) on a flat background."""
    out = []
    for i, (x, y) in enumerate(path):
        img = np.full((240, 360), BACKGROUND, np.uint8)
        img[int(y) - 28:int(y), int(x) - 6:int(x) + 6] = 30
        out.append(Frame(i, i / fps, img))
    return out


def _rules(zones: list[Zone]):
    model = load_model("zone_rules", params={"zones": [z.model_dump(mode="json") for z in zones]})
    model.fit([[Frame(0, 0.0, np.full((240, 360), BACKGROUND, np.uint8))]])
    return model


def _labels(model, frames):
    return [tuple(e.label for e in model.score(f).evidence) for f in frames]


SQUARE = Polygon(points=[(0.4, 0.4), (0.6, 0.4), (0.6, 0.8), (0.4, 0.8)])


def test_intrusion_fires_only_while_the_track_is_inside():
    model = _rules([Zone(name="vault", polygon=SQUARE, intrusion=True)])
    path = [(50 + 8 * i, 150.0) for i in range(40)]  # walks left to right through the square
    labels = _labels(model, _blob_frames(path))
    inside = [i for i, (x, _) in enumerate(path) if 144 <= x <= 216]
    fired = [i for i, lab in enumerate(labels) if "intrusion:vault" in lab]
    assert fired and set(fired) <= set(range(inside[0], inside[-1] + 2)) and len(fired) >= len(inside) - 2


def test_loitering_needs_the_dwell_time():
    model = _rules([Zone(name="atm", polygon=SQUARE, loiter_s=3.0)])
    stand = [(180.0, 150.0)] * 50  # 5 s standing still inside
    labels = _labels(model, _blob_frames(stand))
    fired = [i for i, lab in enumerate(labels) if "loitering:atm" in lab]
    assert fired and 30 <= fired[0] <= 33 and fired[-1] == 49


def test_wrong_way_crossing_fires_and_the_allowed_way_does_not():
    line_zone = Zone(name="gate", polygon=Polygon(points=[(0, 0), (1, 0), (1, 1)]),
                     line=((0.5, 0.0), (0.5, 1.0)), allowed_direction="left_to_right")
    right = [(100 + 8 * i, 150.0) for i in range(30)]
    left = list(reversed(right))
    assert not any(any("wrong_way" in x for x in lab) for lab in _labels(_rules([line_zone]), _blob_frames(right)))
    assert sum(any("wrong_way:gate" in x for x in lab) for lab in _labels(_rules([line_zone]), _blob_frames(left))) == 1
    any_way = line_zone.model_copy(update={"allowed_direction": "any"})
    assert sum(any("line_crossing:gate" in x for x in lab) for lab in _labels(_rules([any_way]), _blob_frames(left))) == 1


def test_simulated_intrusion_becomes_one_event_with_zone_and_rule():
    normal = render(200, seed=4, normal_only=True)
    scene = render(500, seed=6, kinds=("intrusion",), warmup_s=5.0)
    cam = CameraConfig(id="yard", source="sim", scene="parking", zones=sim_zones(), models=[{"type": "zone_rules"}])
    pipeline = build_pipeline(cam)
    pipeline.members[0].model.fit([to_frames(normal)])
    events = [m for m in pipeline.run(raw_frames(scene)) if isinstance(m, EventMessage)]
    truth = [f for f in scene if "intrusion" in f.labels]
    assert truth
    starts = [e for e in events if e.type == "event_open"]
    assert len(starts) == 1 and len([e for e in events if e.type == "event_close"]) == 1
    assert starts[0].rule == "intrusion" and starts[0].zone == "restricted"
    assert abs(starts[0].start_ts - truth[0].ts) < 1.0
