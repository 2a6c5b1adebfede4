"""Signed device config (cameras.edgeconfig): a write through the API pushes to the device's group
after the commit; the signed payload holds the device's own cameras, zones and shifts only, verifies
with the published key, parses on the agent, and its version moves only when it changes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from cameras.edgeconfig import config_public_keys, config_push_for_device, config_sign
from cameras.live import device_group
from cameras.models import Camera, EdgeDevice
from edge_agent.protocol import ConfigPush, challenge_bytes, parse_from_cloud
from edge_agent.signedconfig import ConfigStore
from tenants.scope import tenant_scope
from tests.conftest import client_for
from vadcloud.asgi import application

TRIANGLE = [[0.2, 0.2], [0.8, 0.2], [0.5, 0.9]]


def verify(push: ConfigPush) -> dict[str, Any]:
    """Check the signature with the published key, as the device does; the payload as a dict."""
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(config_public_keys()[push.key_id]))
    public.verify(base64.b64decode(push.signature), push.payload.encode())  # raises if it does not
    return json.loads(push.payload)


def device(world) -> EdgeDevice:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return EdgeDevice.objects.get(id=world.device.id)


class DeviceGroups:
    """Listens on ``edge.device.<id>`` groups through the channel layer, as the edge consumer does."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channels: dict[int, str] = {}

    async def join(self, *device_ids: int) -> None:
        for device_id in device_ids:
            self.channels[device_id] = await self.layer.new_channel()
            await self.layer.group_add(device_group(device_id), self.channels[device_id])

    async def drain(self, device_id: int) -> list[dict[str, Any]]:
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(self.layer.receive(self.channels[device_id]), 0.2))
            except TimeoutError:
                return messages


def config_event(device_id: int) -> dict[str, Any]:
    return {"type": "edge.config", "device_id": device_id}


@pytest.mark.django_db(transaction=True)
def test_admin_zone_patch_pushes_a_signed_config_holding_the_zone(acme, globex, tmp_path: Path):  # noqa: ANN001
    async def run() -> ConfigPush:
        groups = DeviceGroups()
        await groups.join(acme.device.id, globex.device.id)
        alice = client_for(acme.users["alice"])
        response = await sync_to_async(alice.patch)(f"/api/v1/zones/{acme.zone.id}/",
                                                    {"name": "Back door", "points": TRIANGLE}, format="json")
        assert response.status_code == 200, response.content
        assert await groups.drain(acme.device.id) == [config_event(acme.device.id)]
        assert await groups.drain(globex.device.id) == []  # another tenant's device hears nothing
        return await sync_to_async(config_push_for_device)(device_id=acme.device.id,  # what the consumer sends
                                                           tenant_id=acme.tenant.id)

    push = async_to_sync(run)()
    payload = verify(push)
    assert payload["device_id"] == acme.device.id
    assert [c["id"] for c in payload["cameras"]] == [str(acme.camera.id)]  # not the Berlin camera, not globex's
    camera = payload["cameras"][0]
    assert camera["stream_url"] == "rtsp://cam:s3cret@10.0.0.5/stream"  # decrypted, inside the signed config
    assert camera["zones"] == [{"kind": "intrusion", "name": "Back door", "points": TRIANGLE, "loiter_seconds": None}]
    assert payload["shifts"] == [{"name": "Night", "weekdays": [1, 2, 3], "start": "22:00:00", "end": "06:00:00",
                                  "sensitivity": 0.5}]
    assert payload["site"]["timezone"] == "America/Chicago"
    assert payload["privacy_policy"]["jurisdiction"] == "US-IL"
    assert "biometric_identification" in payload["privacy_policy"]["forbidden_capabilities"]
    assert push.payload == json.dumps(payload, sort_keys=True, separators=(",", ":"))  # canonical

    # the agent takes it as is: the cloud's payload fits the agent's strict model
    store = ConfigStore(tmp_path, config_public_keys(), device_id=acme.device.id)
    applied = store.apply(parse_from_cloud(push.model_dump_json()))
    assert applied.config.cameras[0].zones[0].name == "Back door"


@pytest.mark.django_db(transaction=True)
def test_other_tenant_admin_gets_404_and_nothing_is_pushed(acme, globex):  # noqa: ANN001
    async def run() -> None:
        groups = DeviceGroups()
        await groups.join(acme.device.id)
        mallory = client_for(globex.users["mallory"])
        refused = await sync_to_async(mallory.patch)(f"/api/v1/zones/{acme.zone.id}/", {"name": "Mine"}, format="json")
        assert refused.status_code == 404
        assert await groups.drain(acme.device.id) == []
        alice = client_for(acme.users["alice"])  # positive control
        ok = await sync_to_async(alice.patch)(f"/api/v1/zones/{acme.zone.id}/", {"name": "Ours"}, format="json")
        assert ok.status_code == 200
        assert await groups.drain(acme.device.id) == [config_event(acme.device.id)]

    async_to_sync(run)()


def test_a_device_config_holds_only_its_own_tenants_cameras(acme, globex):  # noqa: ANN001
    with tenant_scope(globex.tenant.id):
        Camera.objects.filter(id=globex.camera.id).update(stream_url="rtsp://gx:pw@192.0.2.7/s")
    assert "192.0.2.7" not in config_sign(device=device(acme)).payload
    acme_ids = [c["id"] for c in verify(config_sign(device=device(acme)))["cameras"]]
    globex_payload = verify(config_sign(device=device(globex)))
    assert acme_ids == [str(acme.camera.id)]
    assert [c["id"] for c in globex_payload["cameras"]] == [str(globex.camera.id)]
    assert globex_payload["cameras"][0]["stream_url"] == "rtsp://gx:pw@192.0.2.7/s"


@pytest.mark.django_db(transaction=True)
def test_writes_push_to_every_device_they_change(acme):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        box2 = EdgeDevice.objects.create(site=acme.site, name="box-2")
        berlin = EdgeDevice.objects.create(site=acme.other_site, name="box-berlin")
    box1 = acme.device.id
    alice = client_for(acme.users["alice"])

    async def call(method: str, url: str, data: dict[str, Any] | None = None) -> int:
        response = await sync_to_async(getattr(alice, method))(url, data, format="json")
        assert response.status_code < 300, response.content
        return response.status_code

    async def run() -> None:
        groups = DeviceGroups()
        await groups.join(box1, box2.id, berlin.id)

        async def heard() -> dict[int, int]:
            return {d: len(await groups.drain(d)) for d in (box1, box2.id, berlin.id)}

        await call("patch", f"/api/v1/cameras/{acme.camera.id}/", {"device": box2.id})  # moves: old and new
        assert await heard() == {box1: 1, box2.id: 1, berlin.id: 0}
        await call("patch", f"/api/v1/shifts/{acme.shift.id}/", {"sensitivity": 0.9})  # every device of the site
        assert await heard() == {box1: 1, box2.id: 1, berlin.id: 0}
        await call("patch", f"/api/v1/devices/{box2.id}/", {"name": "box-2b"})
        assert await heard() == {box1: 0, box2.id: 1, berlin.id: 0}
        await call("post", "/api/v1/zones/", {"camera": acme.camera.id, "name": "Till", "kind": "roi",
                                              "points": TRIANGLE})
        assert await heard() == {box1: 0, box2.id: 1, berlin.id: 0}
        await call("delete", f"/api/v1/zones/{acme.zone.id}/")
        assert await heard() == {box1: 0, box2.id: 1, berlin.id: 0}
        await call("post", "/api/v1/shifts/", {"site": acme.other_site.id, "name": "Day", "weekdays": [1],
                                               "start_time": "08:00:00", "end_time": "16:00:00"})
        assert await heard() == {box1: 0, box2.id: 0, berlin.id: 1}
        await call("delete", f"/api/v1/cameras/{acme.camera.id}/")
        assert await heard() == {box1: 0, box2.id: 1, berlin.id: 0}
        refused = await sync_to_async(alice.patch)(f"/api/v1/zones/{acme.zone.id}/", {"name": "x"}, format="json")
        assert refused.status_code == 404  # deleted with its camera: a failed write pushes nothing
        assert await heard() == {box1: 0, box2.id: 0, berlin.id: 0}

    async_to_sync(run)()


def test_config_version_increases_only_when_the_payload_changes(acme):  # noqa: ANN001
    first = config_sign(device=device(acme))
    assert first.version == 1
    assert config_sign(device=device(acme)).version == 1  # nothing changed: a reconnect re-sends it
    alice = client_for(acme.users["alice"])
    assert alice.patch(f"/api/v1/zones/{acme.zone.id}/", {"loiter_seconds": 30}, format="json").status_code == 200
    second = config_sign(device=device(acme))
    assert second.version == 2 and json.loads(second.payload)["cameras"][0]["zones"][0]["loiter_seconds"] == 30
    assert alice.patch(f"/api/v1/zones/{acme.zone.id}/", {"loiter_seconds": 30}, format="json").status_code == 200
    assert config_sign(device=device(acme)).version == 2  # same values written again: same payload
    assert device(acme).config_version == 2
    assert config_sign(device=device(acme)).payload == second.payload


def b64_private() -> str:
    key = Ed25519PrivateKey.generate()
    return base64.b64encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def test_key_ring_signs_with_the_first_key_and_publishes_all(acme, settings):  # noqa: ANN001
    settings.EDGE_CONFIG_SIGNING_KEYS = f"2026-12:{b64_private()}, 2026-06:{b64_private()}"
    push = config_sign(device=device(acme))
    assert push.key_id == "2026-12"
    assert sorted(config_public_keys()) == ["2026-06", "2026-12"]
    verify(push)


@pytest.mark.parametrize(("ring", "message"), [
    ("k1", "entry 1 is not 'key_id:base64-key'"),
    ("k1:c2hvcnQ=", "'k1' is not base64 of a raw 32-byte"),
    ("k1:@@@", "'k1' is not base64 of a raw 32-byte"),
])
def test_a_malformed_key_ring_says_which_entry(acme, settings, ring: str, message: str):  # noqa: ANN001
    settings.EDGE_CONFIG_SIGNING_KEYS = f"{ring},k2:{b64_private()}"
    with pytest.raises(ImproperlyConfigured, match=message):
        config_sign(device=device(acme))
    settings.EDGE_CONFIG_SIGNING_KEYS = f"k2:{b64_private()}"  # positive control
    assert config_sign(device=device(acme)).key_id == "k2"


def start_production_settings(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_CONFIG_", "DATABASE_URL", "REDIS_URL"))}
    base.update(DJANGO_SETTINGS_MODULE="vadcloud.settings", DEBUG="False", SECRET_KEY="x" * 50,
                FIELD_ENCRYPTION_KEY="ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE=", ALLOWED_HOSTS="vad.example")
    base.update(env)
    code = "import django; django.setup(); from cameras.edgeconfig import config_public_keys; print(config_public_keys())"
    return subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])


def test_production_settings_require_a_signing_key():
    refused = start_production_settings()
    assert refused.returncode != 0
    assert "EDGE_CONFIG_SIGNING_KEY (or EDGE_CONFIG_SIGNING_KEYS) must be set when DEBUG is False" in refused.stderr
    ok = start_production_settings(EDGE_CONFIG_SIGNING_KEY=b64_private(), EDGE_CONFIG_KEY_ID="prod-1")
    assert ok.returncode == 0, ok.stderr
    assert "'prod-1'" in ok.stdout


# --- end to end over /ws/edge/ (detection.edge_consumer.EdgeConsumer) -----------------------------
def enroll(world) -> Ed25519PrivateKey:  # noqa: ANN001
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    EdgeDevice.unscoped_objects.filter(id=world.device.id).update(public_key=public, enrolled_at=timezone.now())
    return key


async def open_edge(device_id: int, key: Ed25519PrivateKey, capabilities: list[str]) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/edge/", headers=[(b"origin", b"http://127.0.0.1"),
                                                                   (b"host", b"127.0.0.1")])
    connected, _ = await ws.connect()
    assert connected
    challenge = await ws.receive_json_from(timeout=5)
    signature = base64.b64encode(key.sign(challenge_bytes(challenge["nonce"], device_id))).decode()
    await ws.send_json_to({"v": 2, "type": "hello", "device_id": device_id, "agent_version": "0.2.0",
                           "capabilities": capabilities, "signature": signature})
    assert (await ws.receive_json_from(timeout=5))["type"] == "welcome"
    return ws


async def receive_push(ws: WebsocketCommunicator) -> ConfigPush:
    push = parse_from_cloud(await ws.receive_from(timeout=5))
    assert isinstance(push, ConfigPush), push
    return push


@pytest.mark.django_db(transaction=True)
def test_device_socket_gets_its_config_on_connect_and_after_a_zone_patch(acme, globex, tmp_path: Path):  # noqa: ANN001
    acme_key, globex_key = enroll(acme), enroll(globex)
    store = ConfigStore(tmp_path, config_public_keys(), device_id=acme.device.id)  # the agent's side

    async def run() -> None:
        box = await open_edge(acme.device.id, acme_key, ["config"])
        first = await receive_push(box)  # on connect: the current config
        assert store.apply(first).config.cameras[0].zones[0].name == "Door"
        other = await open_edge(globex.device.id, globex_key, [])  # no "config" capability: nothing on connect
        assert await other.receive_nothing(timeout=0.3)

        alice = client_for(acme.users["alice"])
        response = await sync_to_async(alice.patch)(f"/api/v1/zones/{acme.zone.id}/", {"name": "Back door"},
                                                    format="json")
        assert response.status_code == 200
        second = await receive_push(box)
        applied = store.apply(second)
        assert (applied.version, applied.changed) == (first.version + 1, True)
        assert applied.config.cameras[0].zones[0].name == "Back door"
        assert verify(second)["device_id"] == acme.device.id
        assert await other.receive_nothing(timeout=0.3)  # globex's box hears nothing of acme's change
        await box.disconnect()
        await other.disconnect()

    async_to_sync(run)()
