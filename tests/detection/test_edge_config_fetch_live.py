"""A signed config larger than one websocket frame reaches a running agent.

End to end: a real cloud (daphne) and a real agent process (``vad-edge run``). The device has a
third, disabled camera with 40 zones of 400 points, so its signed config is over
``MAX_FRAME_BYTES`` (256 KiB): the socket carries a ``config_notice`` and the agent fetches the
config over device-signed HTTP (``GET /edge/devices/<id>/config``), verifies it and applies it, at
connect and again after a change in the API. Negative control: an agent that holds another config
key fetches the same config, refuses it (``bad_signature``), keeps nothing and reports the refusal
in its heartbeat.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge_agent.protocol import MAX_FRAME_BYTES
from edge_agent.signedconfig import CONFIG_FILE, ConfigStore
from tests.detection.edge_live import cloud_and_agent, wait_until

BIG_ZONES, BIG_POINTS = 40, 400

# a disabled camera (so the agent runs nothing for it) whose zones make the config ~330 KB
BIG_CAMERA = f"""
import math
with tenant_scope(tenant.id):
    big = Camera.objects.create(site=site, device=device, name="Archive", stream_url="rtsp://10.0.0.7/a",
                                enabled=False)
    for i in range({BIG_ZONES}):
        Zone.objects.create(camera=big, name=f"z{{i:02d}}", kind="intrusion", points=[
            [round(0.5 + 0.4 * math.cos(2 * math.pi * k / {BIG_POINTS}) * (1 - i / 100), 6),
             round(0.5 + 0.4 * math.sin(2 * math.pi * k / {BIG_POINTS}) * (1 - i / 100), 6)]
            for k in range({BIG_POINTS})])
"""


def _local(ids: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": str(ids["a"]), "source": "sim:3", "models": [{"type": "zone_rules"}]},
            {"id": str(ids["b"]), "source": "sim:4", "models": [{"type": "zone_rules"}]}]


def _big_camera(config: Any) -> Any:
    return next(c for c in config.cameras if c.name == "Archive")


def test_a_config_over_one_frame_is_fetched_verified_and_applied_by_the_running_agent(tmp_path):  # noqa: ANN001
    with cloud_and_agent(tmp_path, _local, extra_setup=BIG_CAMERA) as (cloud, agent):
        ids = cloud.ids
        notice = agent.wait_for(lambda x: x.get("event") == "config notice: fetching", 60, "a config notice")
        assert notice["bytes"] > MAX_FRAME_BYTES
        fetched = agent.wait_for(lambda x: x.get("event") == "config fetched", 30, "the config fetched")
        first = agent.wait_for(lambda x: x.get("event") == "config applied", 30, "the fetched config applied")
        assert first["version"] == fetched["version"] == notice["version"]
        kept = agent.data_dir / CONFIG_FILE
        assert json.loads(kept.read_text())["version"] == first["version"]
        store = ConfigStore(agent.data_dir, ids["keys"], device_id=ids["device"])
        config = store.load_last_good()  # verified again, as on the agent's next start
        assert config is not None and store.version == first["version"]
        assert len(store._payload or "") > MAX_FRAME_BYTES  # noqa: SLF001 - the signed payload itself
        big = _big_camera(config)
        assert not big.enabled and len(big.zones) == BIG_ZONES
        assert all(len(z.points) == BIG_POINTS for z in big.zones)

        t0 = time.time()  # a change in the API: the new version takes the same path while running
        status, body = cloud.api("PATCH", f"/api/v1/zones/{ids['zone']}/", {"name": "Back door"})
        assert status == 200, body
        applied = agent.wait_for(lambda x: x.get("event") == "config applied" and x["version"] > first["version"],
                                 30, "the patched config applied")
        print(f"\nconfig of {notice['bytes'] / 1024:.0f} KiB (frame limit {MAX_FRAME_BYTES // 1024} KiB): "
              f"zone PATCH -> v{applied['version']} fetched and applied by the running agent in "
              f"{(applied['ts'] - t0) * 1000:.0f} ms")
        assert applied["restarted"] == [str(ids["a"])]  # only the patched camera restarted
        refetched = [x for x in agent.read() if x.get("event") == "config fetched"]
        assert [x["version"] for x in refetched] == [first["version"], applied["version"]]

        def beat() -> dict[str, Any] | None:
            _, body = cloud.api("GET", f"/api/v1/devices/{ids['device']}/")
            hb = body["health"].get("heartbeat") or {}
            return hb if hb.get("config_version") == applied["version"] else None

        assert wait_until(beat, 10, "a heartbeat with the fetched version")["config_refusal"] is None


def test_a_fetched_config_that_does_not_verify_is_refused_and_reported(tmp_path):  # noqa: ANN001
    """Negative control: the HTTP hop adds no trust; a device holding another key for the key id
    refuses the fetched config, keeps nothing, runs its local cameras and says why."""
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def wrong_keys(keys: dict[str, str]) -> dict[str, str]:
        return {kid: base64.b64encode(other).decode() for kid in keys}

    with cloud_and_agent(tmp_path, _local, extra_setup=BIG_CAMERA, config_keys=wrong_keys) as (cloud, agent):
        ids = cloud.ids
        agent.wait_for(lambda x: x.get("event") == "config fetched", 60, "the config fetched")
        refused = agent.wait_for(lambda x: x.get("event") == "config push refused", 30, "the refusal")
        assert refused["reason"] == "bad_signature"

        def beat() -> dict[str, Any] | None:
            _, body = cloud.api("GET", f"/api/v1/devices/{ids['device']}/")
            hb = body["health"].get("heartbeat") or {}
            return hb if hb.get("config_refusal") else None

        hb = wait_until(beat, 15, "a heartbeat reporting the refusal")
        assert hb["config_refusal"]["reason"] == "bad_signature"
        assert not (agent.data_dir / CONFIG_FILE).exists()
        assert not any(x.get("event") == "config applied" for x in agent.read())
