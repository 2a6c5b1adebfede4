"""The edge consumer's one-pass frame parse (``parse_valid_frame``) takes exactly what the exact
path (``parse_json_limited`` + protocol validation) takes, with the same values, and declines the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from detection.edge_consumer import parse_valid_frame
from edge_agent.protocol import MAX_FRAME_BYTES, Batch, EventOpen, parse_from_edge
from vadcloud.jsonlimits import JsonLimitError, parse_json_limited


def _event(seq: int) -> dict[str, Any]:
    return {"v": 2, "type": "event_open", "seq": seq, "event_id": f"ev-3e{seq:06d}-e899", "camera_id": "7",
            "start_ts": 1.0, "peak_ts": 2.0, "peak_score": 2.5, "votes": 2, "k": 2, "threshold": 1.0,
            "frame_index": 20, "zone": "door", "boxes": [{"x": 1, "y": 2, "w": 3, "h": 4}],
            "models": [{"model": "m", "type": "t", "score": 1.5, "voted": True,
                        "evidence": [{"kind": "cell", "label": "l", "value": 1.0, "where": [1.0, 2.0]}]}],
            "curve": {"t0": 0.0, "dt": 0.1, "scores": [0.1, 0.2], "threshold": 1.0}, "wall_ts": 1_790_000_000.5}


def _exact(text: str) -> Any:
    """What the exact path makes of the frame, or None when it refuses it."""
    try:
        return parse_from_edge(parse_json_limited(text, max_bytes=MAX_FRAME_BYTES))
    except (JsonLimitError, ValidationError):
        return None


def test_a_valid_batch_is_parsed_in_one_pass_with_the_exact_paths_values():
    text = json.dumps({"v": 2, "type": "batch", "messages": [_event(i) for i in range(1, 101)]})
    fast = parse_valid_frame(text)
    assert isinstance(fast, Batch) and len(fast.messages) == 100
    assert isinstance(fast.messages[0], EventOpen) and fast.messages[0].models[0].evidence[0].where == [1.0, 2.0]
    assert fast == _exact(text)


@pytest.mark.parametrize("text", [
    json.dumps(_event(1)).replace('"peak_score": 2.5', '"peak_score": NaN'),
    json.dumps(_event(1)).replace('"peak_score": 2.5', '"peak_score": 1e999'),
    json.dumps(_event(1)).replace('"peak_score": 2.5', '"peak_score": -Infinity'),
    json.dumps(_event(1)).replace('"frame_index": 20', '"frame_index": ' + "9" * 5000),
    json.dumps(_event(1)).replace('"peak_score": 2.5', '"peak_score": ' + "9" * 250 + ".5e99"),
    json.dumps({**_event(1), "zone": "é" * (MAX_FRAME_BYTES // 2 - 100)}, ensure_ascii=False),  # chars < limit < bytes
    json.dumps({**_event(1), "peak_score": "high"}),
    "[" * 50 + "]" * 50,
    "not json {",
])
def test_frames_the_exact_path_refuses_are_declined(text: str):
    assert _exact(text) is None  # the exact path refuses it (with a message naming why) ...
    assert parse_valid_frame(text) is None  # ... so the one-pass parse hands it over


def test_a_string_that_only_looks_suspect_takes_the_exact_path_and_is_still_accepted():
    text = json.dumps({**_event(1), "zone": "NaN-Infinity :1e123"})
    assert parse_valid_frame(text) is None
    assert isinstance(_exact(text), EventOpen)


LEAF = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
        | st.text(max_size=12) | st.sampled_from(["1.5", "NaN", "1e400", "\ud800", 10**400]))
VALUE = st.recursive(LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                     max_leaves=8)
KEYS = sorted(_event(1)) + ["seq", "type", "v", "extra"]


@st.composite
def frames(draw: Any) -> str:
    messages = [_event(i) for i in range(1, draw(st.integers(min_value=1, max_value=4)) + 1)]
    for msg in messages:
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            msg[draw(st.sampled_from(KEYS))] = draw(VALUE)
    frame: Any = messages[0] if draw(st.booleans()) else {"v": 2, "type": "batch", "messages": messages}
    return json.dumps(frame, allow_nan=True) if draw(st.booleans()) else json.dumps(frame, allow_nan=True,
                                                                                      ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(frames())
def test_what_the_one_pass_parse_takes_the_exact_path_takes_with_the_same_values(text: str):
    fast = parse_valid_frame(text)
    if fast is not None:
        assert fast == _exact(text)
