"""A config change in the API reaches the running agent and is applied without restarting it.

End to end: a real cloud (daphne) and a real agent process (``vad-edge run``) with two cameras on
live simulated streams. A zone PATCH on camera a is signed, pushed, verified and applied within a
second: only camera a restarts, camera b keeps running (same worker, its stream never re-opened),
the process is the same, and the heartbeat reports the applied version.

In process (the agent's EdgeControl + Runner, fed the cloud's real signed pushes): a tampered or
rolled-back push is refused, the last good config stays in force (the kept file and the running
cameras), and the refusal is reported in the heartbeat; a camera that cannot be built reports
failed and the rest of the config applies.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cameras.edgeconfig import config_public_keys, config_sign
from cameras.models import EdgeDevice
from edge_agent.config import AgentConfig
from edge_agent.control import EdgeControl
from edge_agent.pipeline.runner import Runner
from edge_agent.protocol import ConfigPush, Heartbeat, StreamStatus
from edge_agent.signedconfig import ConfigStore
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.detection.edge_live import cloud_and_agent, wait_until

APPLY_BOUND_S = 1.0  # the requirement: "reaches connected agents within a second"


def _local(ids: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": str(ids["a"]), "source": "sim:3", "models": [{"type": "zone_rules"}]},
            {"id": str(ids["b"]), "source": "sim:4", "models": [{"type": "zone_rules"}]}]


def test_a_zone_patch_is_applied_by_the_running_agent_within_a_second_and_only_its_camera_restarts(tmp_path):  # noqa: ANN001
    with cloud_and_agent(tmp_path, _local) as (cloud, agent):
        ids = cloud.ids
        a, b = str(ids["a"]), str(ids["b"])
        first = agent.wait_for(lambda x: x.get("event") == "config applied", 60, "the first config applied")
        v1 = first["version"]
        assert sorted(first["restarted"] + first["started"]) == sorted([a, b])  # the cloud's policy now applies

        def streams() -> dict[str, Any]:
            status, body = cloud.api("GET", f"/api/v1/devices/{ids['device']}/")
            assert status == 200, body
            return body["health"].get("streams") or {}

        def settled() -> dict[str, Any] | None:
            """Both cameras opened after the first config's restart, and nothing new for a second
            (a snapshot taken between a restart's stream messages would blame the patch for them)."""
            seen = streams()
            if not {a, b} <= set(seen) or any(seen[c]["status"] != "opened" for c in (a, b)):
                return None
            time.sleep(1.0)
            return seen if streams() == seen else None

        before = wait_until(settled, 20, "both cameras reported opened and settled")
        pid = agent.proc.pid
        t0 = time.time()
        status, body = cloud.api("PATCH", f"/api/v1/zones/{ids['zone']}/", {"name": "Back door"})
        assert status == 200, body
        applied = agent.wait_for(lambda x: x.get("event") == "config applied" and x.get("version", 0) > v1, 10,
                                 "the patched config applied")
        seconds = applied["ts"] - t0  # the agent's log clock and ours are the same machine's
        print(f"\nzone PATCH -> config v{applied['version']} applied by the running agent in {seconds * 1000:.0f} ms "
              f"(bound {APPLY_BOUND_S * 1000:.0f} ms; reconcile {applied['reconcile_ms']} ms)")
        assert seconds < APPLY_BOUND_S
        assert applied["restarted"] == [a] and applied["unchanged"] == [b] and applied["started"] == []
        assert agent.proc.poll() is None and agent.proc.pid == pid  # same process, never restarted

        def beat() -> dict[str, Any] | None:
            _, body = cloud.api("GET", f"/api/v1/devices/{ids['device']}/")
            hb = body["health"].get("heartbeat") or {}
            streams = body["health"].get("streams") or {}
            # the restarted camera's stream_status and the heartbeat travel separately: wait for both
            reopened = streams.get(a, {}).get("seq", 0) > before[a]["seq"]
            return body["health"] if hb.get("config_version") == applied["version"] and reopened else None

        health = wait_until(beat, 10, "a heartbeat with the applied config version and camera a's stream re-opened")
        assert health["heartbeat"]["config_refusal"] is None
        after = health["streams"]
        assert after[a]["seq"] > before[a]["seq"]  # a re-opened its stream
        assert after[b]["seq"] == before[b]["seq"]  # b never stopped: no new stream_status
        cams = {c["camera_id"]: c for c in health["heartbeat"]["cameras"]}
        assert cams[a]["state"] == cams[b]["state"] == "running"


# --- in process: refusals keep the last good config --------------------------------------------
def _device(world) -> EdgeDevice:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return EdgeDevice.objects.get(id=world.device.id)


class _Agent:
    """EdgeControl + Runner as `vad-edge run` wires them, with messages collected instead of sent."""

    def __init__(self, data_dir: Path, device_id: int, local: AgentConfig) -> None:
        self.out: list[Any] = []
        self.store = ConfigStore(data_dir, config_public_keys(), device_id=device_id)
        self.control = EdgeControl(store=self.store, local=local, data_dir=data_dir, emit=self.out.append)
        self.runner = Runner(self.control.initial_agent(), self.out.append, heartbeat_extra=self.control.heartbeat_extra)
        self.control.attach(self.runner)
        self.thread = threading.Thread(target=self.runner.run, kwargs={"heartbeat_s": 0.2, "keep_running": True})
        self.thread.start()

    def push_and_settle(self, push: ConfigPush) -> None:
        self.control.on_config(push)  # what the sender thread calls
        done = threading.Event()
        self.runner.submit(done.set)  # after every job queued before it
        assert done.wait(10)

    def workers(self) -> dict[str, Any]:
        return {w.camera.id: w for w in self.runner.workers}

    def stop(self) -> None:
        self.runner.stop()
        self.thread.join(timeout=10)


@pytest.mark.django_db
def test_tampered_and_rolled_back_pushes_are_refused_and_the_last_good_config_stays(acme, tmp_path):  # noqa: ANN001
    cam = str(acme.camera.id)
    local = AgentConfig.model_validate({"cameras": [{"id": cam, "source": "sim:1", "models": [{"type": "zone_rules"}]}]})
    box = _Agent(tmp_path, acme.device.id, local)
    try:
        v1 = config_sign(device=_device(acme))
        box.push_and_settle(v1)
        alice = client_for(acme.users["alice"])
        assert alice.patch(f"/api/v1/zones/{acme.zone.id}/", {"name": "Back door"}, format="json").status_code == 200
        v2 = config_sign(device=_device(acme))
        assert v2.version == v1.version + 1
        box.push_and_settle(v2)
        assert box.runner.applied_version == v2.version
        worker = box.workers()[cam]
        assert [z.name for z in worker.camera.zones] == ["Back door"]
        kept = (tmp_path / "config.json").read_bytes()

        tampered = v2.model_copy(update={"version": v2.version + 1,
                                         "payload": v2.payload.replace("Back door", "Open door")})
        for push, reason in ((tampered, "bad_signature"), (v1, "rollback")):
            box.push_and_settle(push)
            assert box.store.last_refusal is not None and box.store.last_refusal.reason == reason
            assert box.runner.applied_version == v2.version  # still the last good one
            assert box.workers()[cam] is worker and worker.is_alive()  # the camera was not touched
            assert (tmp_path / "config.json").read_bytes() == kept
            beat = box.runner.heartbeat()
            assert beat.config_version == v2.version
            assert beat.config_refusal is not None and beat.config_refusal.reason == reason
        wait_until(lambda: any(isinstance(m, Heartbeat) and m.config_refusal is not None for m in list(box.out)),
                   5, "a periodic heartbeat reporting the refusal")
        box.push_and_settle(v2)  # a re-delivery of the version in force changes nothing
        assert box.workers()[cam] is worker
    finally:
        box.stop()


@pytest.mark.django_db
def test_a_camera_that_cannot_be_built_fails_alone_and_the_rest_applies(acme, tmp_path):  # noqa: ANN001
    from cameras.models import Camera

    with tenant_scope(acme.tenant.id):
        face = Camera.objects.create(site=acme.site, device=acme.device, name="Lobby", stream_url="rtsp://10.0.0.9/l")
        bare = Camera.objects.create(site=acme.site, device=acme.device, name="Bare")  # no stream URL
    good = str(acme.camera.id)
    local = AgentConfig.model_validate({"cameras": [
        {"id": good, "source": "sim:1", "models": [{"type": "zone_rules"}]},
        {"id": str(face.id), "source": "sim:2",
         "models": [{"type": "face_recognition_onnx", "model_path": str(tmp_path / "face.onnx")}]}]})
    box = _Agent(tmp_path, acme.device.id, local)
    try:
        box.push_and_settle(config_sign(device=_device(acme)))
        wait_until(lambda: not box.workers()[str(face.id)].is_alive(), 10, "the face camera gave up")
        workers = box.workers()
        assert workers[good].is_alive() and workers[good].state == "running"
        assert workers[str(face.id)].state == "failed"
        failed = {m.camera_id: m.detail for m in box.out if isinstance(m, StreamStatus) and m.status == "failed"}
        assert "biometric_identification" in failed[str(face.id)] and "forbidden" in failed[str(face.id)]
        assert "no stream URL" in failed[str(bare.id)]
        assert box.runner.applied_version is not None
        states = {c.camera_id: c.state for c in box.runner.heartbeat().cameras}
        assert states == {good: "running", str(face.id): "failed", str(bare.id): "failed"}
    finally:
        box.stop()
