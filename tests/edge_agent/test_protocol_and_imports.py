"""Wire schema round trips; the agent never imports Django and inference never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_agent.pipeline.events import uuid7
from edge_agent.protocol import PROTOCOL_V2, Heartbeat, StreamStatus, parse_from_edge

REPO = Path(__file__).resolve().parents[2]


def test_messages_round_trip_through_json():
    msg = StreamStatus(seq=7, camera_id="gate", status="restored", ts=1.5, attempt=3)
    back = parse_from_edge(msg.model_dump_json())
    assert back == msg and back.v == PROTOCOL_V2
    beat = Heartbeat(ts=2.0, agent_version="0.1.0", outbox_depth=3, dropped_by_policy=1)
    assert parse_from_edge(beat.model_dump(mode="json")) == beat


def test_unknown_message_types_and_keys_are_refused():
    ok = {"type": "stream_status", "v": 2, "camera_id": "a", "status": "lost", "ts": 1}
    assert parse_from_edge(ok).status == "lost"  # positive control
    with pytest.raises(ValidationError):
        parse_from_edge({"type": "video_frame", "v": 2})
    with pytest.raises(ValidationError):
        parse_from_edge({**ok, "pixels": "..."})
    with pytest.raises(ValidationError):
        parse_from_edge({**ok, "v": 1})


def test_uuid7_is_version_7_time_ordered_and_unique():
    import time
    import uuid

    ids = []
    for _ in range(5):
        ids.append(uuid7())
        time.sleep(0.002)  # next millisecond
    assert ids == sorted(ids)  # time-ordered across milliseconds (the string sorts like the 128-bit value)
    many = [uuid7() for _ in range(20000)]
    assert len(set(many)) == len(many)
    for s in ids + many[:100]:
        u = uuid.UUID(s)
        assert u.version == 7 and u.variant == uuid.RFC_4122
    ms = uuid.UUID(ids[0]).int >> 80
    assert abs(ms / 1000 - time.time()) < 5  # the first 48 bits are the Unix time in ms


def test_no_edge_module_imports_django_and_inference_does_not_import_torch():
    code = """
import importlib, json, pkgutil, sys
import edge_agent
names = sorted(m.name for m in pkgutil.walk_packages(edge_agent.__path__, "edge_agent."))
inference = [n for n in names if not n.startswith("edge_agent.training") and n not in ("edge_agent.__main__", "edge_agent.bench")]
for n in inference:
    importlib.import_module(n)
torch_after_inference = "torch" in sys.modules
for n in names:
    if n != "edge_agent.__main__":
        importlib.import_module(n)
django = [m for m in sys.modules if m.split('.')[0] == 'django']
print(json.dumps({"modules": names, "torch": torch_after_inference, "django": django}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "edge_agent.pipeline.pipeline" in result["modules"] and "edge_agent.cli" in result["modules"]
    assert result["django"] == []
    assert result["torch"] is False
