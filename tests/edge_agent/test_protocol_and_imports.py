"""Wire schema round trips; the agent never imports Django and inference never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_agent.protocol import PROTOCOL_VERSION, HealthMessage, StreamStatusMessage, parse_message

REPO = Path(__file__).resolve().parents[2]


def test_messages_round_trip_through_json():
    msg = StreamStatusMessage(camera_id="gate", status="restored", ts=1.5, attempt=3)
    back = parse_message(msg.model_dump_json())
    assert back == msg and back.v == PROTOCOL_VERSION
    health = HealthMessage(device_id="box", ts=2.0, agent_version="0.1.0")
    assert parse_message(health.model_dump(mode="json")) == health


def test_unknown_message_types_and_keys_are_refused():
    with pytest.raises(ValidationError):
        parse_message({"type": "video_frame", "v": 1})
    with pytest.raises(ValidationError):
        parse_message({"type": "stream_status", "camera_id": "a", "status": "lost", "ts": 1, "pixels": "..."})
    with pytest.raises(ValidationError):
        parse_message({"type": "stream_status", "v": 2, "camera_id": "a", "status": "lost", "ts": 1})


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
