"""Several cameras: a broken camera is reported as failed and the others keep running."""

from __future__ import annotations

import json

import pytest

from edge_agent.cli import main
from edge_agent.config import AgentConfig, CameraConfig, Policy
from edge_agent.pipeline.events import EventMessage
from edge_agent.pipeline.runner import Runner
from edge_agent.protocol import Heartbeat, StreamStatus, parse_from_edge
from edge_agent.sim import render, sim_zones, write_folder


@pytest.fixture(autouse=True)
def _not_enrolled(tmp_path, monkeypatch):
    """`vad-edge run` streams when the default data dir holds device.json; these tests want JSON lines."""
    monkeypatch.setenv("VAD_EDGE_DATA_DIR", str(tmp_path / "not-enrolled"))


def _cam(cid: str, source: str, **kw) -> CameraConfig:
    return CameraConfig(id=cid, source=source, scene="parking", zones=sim_zones(), models=[{"type": "zone_rules"}], **kw)


def test_a_failing_camera_does_not_stop_the_others(tmp_path):
    folder = write_folder(tmp_path / "yard", render(300, seed=6, kinds=("intrusion",), warmup_s=5.0))
    agent = AgentConfig(cameras=[
        _cam("missing", str(tmp_path / "absent.mp4")),
        _cam("yard", str(folder)),
        CameraConfig(id="forbidden", source=str(folder), models=[{"type": "face_recognition_onnx", "model_path": "m.onnx"}]),
    ], policy=Policy(policy_id="p-9"))
    got: list = []
    runner = Runner(agent, got.append)
    runner.run(heartbeat_s=3600)
    failed = {m.camera_id: m.detail for m in got if isinstance(m, StreamStatus) and m.status == "failed"}
    assert set(failed) == {"missing", "forbidden"}
    assert "absent.mp4" in failed["missing"] and "biometric_identification" in failed["forbidden"]
    yard = [m for m in got if isinstance(m, EventMessage) and m.camera_id == "yard"]
    types = [e.type for e in yard]
    assert types[0] == "event_open" and types[-1] == "event_close" and set(types[1:-1]) <= {"event_update"}
    assert yard[0].rule == "intrusion" and len({e.event_id for e in yard}) == 1
    health = runner.heartbeat()
    assert isinstance(health, Heartbeat) and parse_from_edge(health.model_dump_json()) == health
    assert {c.camera_id: c.state for c in health.cameras} == {"missing": "failed", "yard": "stopped", "forbidden": "failed"}
    yard_beat = next(c for c in health.cameras if c.camera_id == "yard")
    assert yard_beat.frames == 300 and yard_beat.dropped_frames == 0
    assert yard_beat.latency_p50_ms is not None and yard_beat.latency_p99_ms >= yard_beat.latency_p50_ms >= 0
    assert health.memory_mb > 0 and health.cpu_percent is not None  # from /proc (Linux)


def test_the_heartbeat_reports_the_outbox(tmp_path):
    from edge_agent.transport.outbox import Outbox

    folder = write_folder(tmp_path / "yard", render(30, seed=6, normal_only=True))
    box = Outbox(tmp_path / "outbox.sqlite3")
    runner = Runner(AgentConfig(cameras=[_cam("yard", str(folder))]), box.put, outbox_stats=box.stats)
    runner.run(heartbeat_s=0.05)
    beats = [parse_from_edge(r.body) for r in box.rows_after(0) if r.type == "heartbeat"]
    beat = runner.heartbeat()
    assert beat.outbox_depth == box.pending() >= 2 and beat.outbox_bytes > 0 and beat.dropped_by_policy == 0
    assert all(b.seq for b in beats)  # heartbeats go through the outbox like everything else


def test_cli_run_all_cameras(tmp_path, capsys):
    folder = write_folder(tmp_path / "yard", render(120, seed=6, normal_only=True))
    cfg = AgentConfig(cameras=[_cam("a", str(folder)), _cam("b", str(tmp_path / "nope"))])
    path = tmp_path / "agent.json"
    path.write_text(cfg.model_dump_json())
    assert main(["run", "--config", str(path), "--all"]) == 0
    msgs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(m["camera_id"], m["status"]) for m in msgs if m["type"] == "stream_status"} == \
        {("a", "opened"), ("a", "ended"), ("b", "failed")}
