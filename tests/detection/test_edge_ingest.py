"""``/ws/edge/``: device handshake (Ed25519 challenge), idempotent ingest, acks, coalesced push.

Real keys are generated here; the device talks to ``vadcloud.asgi.application`` through
``WebsocketCommunicator``; results are read back through the database and the alert wall socket.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import Client
from django.utils import timezone

from cameras.models import Camera, DeviceStatus, EdgeDevice
from cameras.services import devices_mark_offline
from detection.models import Alert
from edge_agent.protocol import MAX_FRAME_BYTES, challenge_bytes
from tenants.scope import tenant_scope
from vadcloud.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


def enroll(world, device: EdgeDevice | None = None) -> tuple[EdgeDevice, Ed25519PrivateKey]:  # noqa: ANN001
    """Give the device a fresh Ed25519 key pair (what `vad-edge enroll` registers)."""
    device = device or world.device
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    EdgeDevice.unscoped_objects.filter(id=device.id).update(public_key=public, enrolled_at=timezone.now())
    device.refresh_from_db()
    return device, key


async def open_edge(device_id: int, key: Ed25519PrivateKey, **hello: object):  # noqa: ANN201
    """Connect, answer the challenge; returns (communicator, welcome or close output)."""
    ws = WebsocketCommunicator(application, "/ws/edge/", headers=HEADERS)
    connected, _ = await ws.connect()
    assert connected
    challenge = await ws.receive_json_from(timeout=5)
    assert challenge["type"] == "challenge" and len(base64.b64decode(challenge["nonce"])) == 32
    signature = base64.b64encode(key.sign(challenge_bytes(challenge["nonce"], device_id))).decode()
    await ws.send_json_to({"v": 2, "type": "hello", "device_id": device_id, "agent_version": "0.2.0",
                           "signature": signature, **hello})
    return ws, await ws.receive_output(timeout=5)


def welcome_of(output: dict) -> dict:
    assert output["type"] == "websocket.send", output
    reply = json.loads(output["text"])
    assert reply["type"] == "welcome", reply
    return reply


def event(seq: int, camera_id: int, *, kind: str = "event_open", event_id: str | None = None,
          **extra: object) -> dict:
    msg = {"v": 2, "type": kind, "seq": seq, "event_id": event_id or f"ev-{uuid.uuid4().hex[:16]}",
           "camera_id": str(camera_id), "peak_ts": 12.5, "peak_score": 2.0, "votes": 2, "k": 2, "threshold": 1.0,
           "frame_index": 125, "wall_ts": 1_790_000_000.0, "zone": "Door",
           "boxes": [{"x": 1, "y": 2, "w": 30, "h": 40, "source": "objects"}],
           "models": [{"model": "flow", "type": "optical_flow", "score": 2.0, "voted": True,
                       "evidence": [{"kind": "cell", "label": "speed", "value": 2.0}]}],
           "curve": {"t0": 10.0, "dt": 0.5, "scores": [0.1, 0.9, 2.0], "threshold": 1.0}}
    if kind in ("event_open", "event_close"):
        msg["start_ts"] = 10.0
    if kind == "event_close":
        msg["end_ts"] = 20.0
    msg.update(extra)
    return msg


async def send_recv(ws, frame: dict | str) -> dict:  # noqa: ANN001
    if isinstance(frame, str):
        await ws.send_to(text_data=frame)
    else:
        await ws.send_json_to(frame)
    return await ws.receive_json_from(timeout=10)


def alerts_of(world) -> list[Alert]:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return list(Alert.objects.filter(device_id=world.device.id).order_by("id"))


def device_row(device_id: int) -> EdgeDevice:
    return EdgeDevice.unscoped_objects.get(id=device_id)


# --- handshake --------------------------------------------------------------------------------

def test_enrolled_device_with_a_valid_signature_is_welcomed(acme):  # noqa: ANN001
    device, key = enroll(acme)
    EdgeDevice.unscoped_objects.filter(id=device.id).update(last_seq=41, config_version=3)

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome = welcome_of(out)
        assert (welcome["device_id"], welcome["last_seq"], welcome["config_version"]) == (device.id, 41, 3)
        await ws.disconnect()

    async_to_sync(run)()
    row = device_row(device.id)
    assert (row.status, row.agent_version) == (DeviceStatus.ONLINE, "0.2.0")


def test_bad_signature_is_closed_4401(acme):  # noqa: ANN001
    device, _ = enroll(acme)

    async def run() -> None:
        _, out = await open_edge(device.id, Ed25519PrivateKey.generate())  # not the enrolled key
        assert out == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_signature_for_another_device_id_is_closed_4401(acme, globex):  # noqa: ANN001
    device, key = enroll(acme)
    other, _ = enroll(globex)

    async def run() -> None:
        ws = WebsocketCommunicator(application, "/ws/edge/", headers=HEADERS)
        await ws.connect()
        nonce = (await ws.receive_json_from())["nonce"]
        signature = base64.b64encode(key.sign(challenge_bytes(nonce, device.id))).decode()
        await ws.send_json_to({"type": "hello", "device_id": other.id, "agent_version": "x", "signature": signature})
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_unknown_and_unenrolled_devices_are_closed_4401(acme):  # noqa: ANN001
    key = Ed25519PrivateKey.generate()

    async def run() -> None:
        _, out = await open_edge(987654, key)
        assert out == {"type": "websocket.close", "code": 4401}
        _, out = await open_edge(acme.device.id, key)  # exists, never enrolled
        assert out == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_revoked_or_disabled_device_is_closed_4403(acme):  # noqa: ANN001
    device, key = enroll(acme)

    async def run() -> None:
        await sync_to_async(EdgeDevice.unscoped_objects.filter(id=device.id).update)(revoked_at=timezone.now())
        _, out = await open_edge(device.id, key)
        assert out == {"type": "websocket.close", "code": 4403}
        await sync_to_async(EdgeDevice.unscoped_objects.filter(id=device.id).update)(
            revoked_at=None, status=DeviceStatus.DISABLED)
        _, out = await open_edge(device.id, key)
        assert out == {"type": "websocket.close", "code": 4403}
        await sync_to_async(EdgeDevice.unscoped_objects.filter(id=device.id).update)(status=DeviceStatus.OFFLINE)
        ws, out = await open_edge(device.id, key)  # positive control
        welcome_of(out)
        await ws.disconnect()

    async_to_sync(run)()


def test_device_revoked_while_connected_is_closed_4403_on_its_next_frame(acme):  # noqa: ANN001
    device, key = enroll(acme)

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        assert (await send_recv(ws, event(1, acme.camera.id)))["type"] == "ack"
        await sync_to_async(EdgeDevice.unscoped_objects.filter(id=device.id).update)(revoked_at=timezone.now())
        await ws.send_json_to(event(2, acme.camera.id))
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}

    async_to_sync(run)()
    assert len(alerts_of(acme)) == 1


def test_no_hello_in_time_is_closed_4401(acme, settings):  # noqa: ANN001
    settings.EDGE_HELLO_TIMEOUT_S = 0.3

    async def run() -> None:
        ws = WebsocketCommunicator(application, "/ws/edge/", headers=HEADERS)
        await ws.connect()
        assert (await ws.receive_json_from())["type"] == "challenge"
        assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}

    async_to_sync(run)()


def test_wrong_protocol_version_is_closed_4426(acme):  # noqa: ANN001
    device, key = enroll(acme)

    async def run() -> None:
        ws, out = await open_edge(device.id, key, protocol=1)
        error = json.loads(out["text"])
        assert (error["type"], error["code"], error["field"]) == ("error", 4426, "protocol")
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4426}
        ws, out = await open_edge(device.id, key, v=1)
        assert json.loads(out["text"])["code"] == 4426
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4426}

    async_to_sync(run)()


# --- ingest: idempotent, acked after commit -----------------------------------------------------

def test_event_open_makes_one_alert_and_replays_are_duplicates(acme):  # noqa: ANN001
    device, key = enroll(acme)
    first = event(1, acme.camera.id, event_id="ev-0001-aaaa")

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        ack = await send_recv(ws, first)
        assert ack == {"v": 2, "type": "ack", "seq": 1, "results": [{"seq": 1, "status": "ok", "error": ""}]}
        ack = await send_recv(ws, first)  # the same seq again (the ack was lost)
        assert ack["seq"] == 1 and ack["results"][0]["status"] == "duplicate"
        ack = await send_recv(ws, {**first, "seq": 2})  # same event, new seq (re-queued by the agent)
        assert ack["seq"] == 2 and ack["results"][0]["status"] == "duplicate"
        await ws.disconnect()
        ws, out = await open_edge(device.id, key)  # a reconnect learns where the cloud is
        assert welcome_of(out)["last_seq"] == 2
        await ws.disconnect()

    async_to_sync(run)()
    [alert] = alerts_of(acme)
    assert (alert.event_id, alert.camera_id, alert.zone_id, alert.peak_score) == ("ev-0001-aaaa", acme.camera.id,
                                                                                  acme.zone.id, 2.0)
    assert alert.per_model["flow"]["score"] == 2.0 and alert.per_model["flow"]["vote"] is True
    assert alert.per_model["flow"]["evidence"][0]["label"] == "speed"
    assert alert.boxes == [[1, 2, 30, 40]]
    assert alert.curve["scores"] == [0.1, 0.9, 2.0]
    # started_at = wall clock of the peak minus (peak_ts - start_ts) stream seconds
    assert alert.started_at.timestamp() == pytest.approx(1_790_000_000.0 - 2.5)
    assert device_row(device.id).last_seq == 2


def test_update_raises_the_peak_only_and_close_sets_the_end(acme):  # noqa: ANN001
    device, key = enroll(acme)

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        eid = "ev-0002-bbbb"
        await send_recv(ws, event(1, acme.camera.id, event_id=eid))
        await send_recv(ws, event(2, acme.camera.id, kind="event_update", event_id=eid, peak_score=3.5))
        await send_recv(ws, event(3, acme.camera.id, kind="event_update", event_id=eid, peak_score=1.0))
        ack = await send_recv(ws, event(4, acme.camera.id, kind="event_close", event_id=eid, peak_score=1.0))
        assert ack["results"] == [{"seq": 4, "status": "ok", "error": ""}]
        # a close whose open was dead-lettered still makes the alert
        ack = await send_recv(ws, event(5, acme.camera.id, kind="event_close", event_id="ev-0003-cccc"))
        assert ack["results"][0]["status"] == "ok"
        await ws.disconnect()

    async_to_sync(run)()
    first, second = alerts_of(acme)
    assert first.peak_score == 3.5
    assert first.ended_at.timestamp() == pytest.approx(1_790_000_000.0 + 7.5)
    assert second.event_id == "ev-0003-cccc" and second.ended_at is not None


def test_another_devices_camera_is_rejected_and_the_next_message_is_ok(acme):  # noqa: ANN001
    device, key = enroll(acme)
    with tenant_scope(acme.tenant.id):
        box2 = EdgeDevice.objects.create(site=acme.site, name="box-2")
        cam2 = Camera.objects.create(site=acme.site, device=box2, name="Yard")

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        ack = await send_recv(ws, event(1, cam2.id))
        assert ack["seq"] == 1
        assert ack["results"] == [{"seq": 1, "status": "rejected",
                                   "error": f"camera {cam2.id} is not one of this device's cameras"}]
        ack = await send_recv(ws, event(2, 99999))
        assert ack["results"][0]["status"] == "rejected"
        ack = await send_recv(ws, event(3, acme.camera.id))  # positive control on the same socket
        assert ack["results"] == [{"seq": 3, "status": "ok", "error": ""}]
        await ws.disconnect()

    async_to_sync(run)()
    assert [a.camera_id for a in alerts_of(acme)] == [acme.camera.id]


def test_device_of_tenant_b_cannot_write_into_tenant_a(acme, globex):  # noqa: ANN001
    device_b, key_b = enroll(globex)

    async def run() -> None:
        ws, out = await open_edge(device_b.id, key_b)
        welcome_of(out)  # its hello works
        ack = await send_recv(ws, event(1, acme.camera.id))
        assert ack["results"][0]["status"] == "rejected"
        ack = await send_recv(ws, event(2, globex.camera.id))  # its own camera: ok
        assert ack["results"][0]["status"] == "ok"
        await ws.disconnect()

    async_to_sync(run)()
    with tenant_scope(acme.tenant.id):
        assert not Alert.objects.filter(event_id__isnull=False).exists()
    with tenant_scope(globex.tenant.id):
        assert Alert.objects.filter(device_id=device_b.id, camera_id=globex.camera.id).count() == 1


@pytest.mark.parametrize(("frame", "field", "code"), [
    ("not json {", None, 4400),
    ("[" * 50 + "]" * 50, None, 4400),
    (json.dumps({"v": 2, "type": "heartbeat", "seq": 5, "pad": "x" * (MAX_FRAME_BYTES + 10)}), None, 4413),
    (json.dumps({"v": 2, "type": "teleport", "seq": 5}), "", 4400),
    (json.dumps(event(5, 1, peak_score="high")), "event_open.peak_score", 4400),
])
def test_malformed_frames_get_an_error_and_later_messages_still_work(acme, frame, field, code):  # noqa: ANN001
    device, key = enroll(acme)

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        error = await send_recv(ws, frame)
        assert (error["type"], error["code"]) == ("error", code), error
        if field:
            assert error["field"] == field and field in error["detail"]
        if field is not None and '"seq": 5' in frame:  # a readable seq: acked as rejected
            ack = await ws.receive_json_from(timeout=5)
            assert ack["type"] == "ack" and ack["results"][0]["status"] == "rejected" and ack["seq"] == 5
        ack = await send_recv(ws, event(6, acme.camera.id))
        assert ack["results"] == [{"seq": 6, "status": "ok", "error": ""}]
        await ws.disconnect()

    async_to_sync(run)()
    assert len(alerts_of(acme)) == 1


def test_message_without_seq_is_refused_by_name(acme):  # noqa: ANN001
    device, key = enroll(acme)

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        msg = event(1, acme.camera.id)
        del msg["seq"]
        error = await send_recv(ws, msg)
        assert (error["type"], error["field"]) == ("error", "seq")
        await ws.disconnect()

    async_to_sync(run)()
    assert alerts_of(acme) == []


def _session_cookie(user) -> str:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_wall(user):  # noqa: ANN001, ANN201
    cookie = await sync_to_async(_session_cookie)(user)
    ws = WebsocketCommunicator(application, "/ws/alerts/", headers=[*HEADERS, (b"cookie", f"sessionid={cookie}".encode())])
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
    return ws


def test_batch_of_200_is_one_ack_and_one_coalesced_push_filtered_by_site(acme):  # noqa: ANN001
    from guardian.shortcuts import assign_perm

    device, key = enroll(acme)
    hq_only = acme.add("hana", "operator", all_sites=False)
    berlin_only = acme.add("bert", "operator", all_sites=False)
    with tenant_scope(acme.tenant.id):
        assign_perm("tenants.view_site", hq_only, acme.site)
        assign_perm("tenants.view_site", berlin_only, acme.other_site)
    batch = {"v": 2, "type": "batch", "messages": [event(i, acme.camera.id) for i in range(1, 201)]}
    batch["messages"].append({"v": 2, "type": "heartbeat", "seq": 201, "ts": 1_790_000_000.0,
                              "agent_version": "0.2.1", "cameras": [{"camera_id": str(acme.camera.id),
                                                                     "state": "running", "fps": 9.5}]})
    batch["messages"].append({"v": 2, "type": "stream_status", "seq": 202, "camera_id": str(acme.camera.id),
                              "status": "lost", "ts": 1_790_000_001.0, "attempt": 1})
    batch["messages"].append({"v": 2, "type": "command_result", "seq": 203, "command_id": "cmd-1", "ok": True})

    async def run() -> None:
        hana = await open_wall(hq_only)
        bert = await open_wall(berlin_only)
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        ack = await send_recv(ws, batch)
        assert ack["seq"] == 203 and len(ack["results"]) == 203
        assert {r["status"] for r in ack["results"]} == {"ok"}
        assert await ws.receive_nothing(timeout=0.2)  # one ack for the frame, nothing more
        pushed = await hana.receive_json_from(timeout=5)
        assert pushed["type"] == "alerts" and len(pushed["alerts"]) == 201  # + the stream_lost alert
        assert sorted({a["kind"] for a in pushed["alerts"]}) == ["anomaly", "stream_lost"]
        assert {a["camera"] for a in pushed["alerts"]} == {acme.camera.id}
        assert await hana.receive_nothing(timeout=0.2)  # coalesced: one frame, not 200
        assert await bert.receive_nothing(timeout=0.3)  # another site's operator hears nothing
        for sock in (ws, hana, bert):
            await sock.disconnect()

    async_to_sync(run)()
    assert len([a for a in alerts_of(acme) if a.kind == "anomaly"]) == 200
    row = device_row(device.id)
    assert row.last_seq == 203
    assert row.health["streams"][str(acme.camera.id)]["status"] == "lost"
    assert row.health["commands"][0]["command_id"] == "cmd-1"
    assert row.health["heartbeat"]["cameras"][0]["fps"] == 9.5 and row.agent_version == "0.2.1"


def test_batch_with_one_bad_message_commits_the_good_ones(acme):  # noqa: ANN001
    device, key = enroll(acme)
    bad = event(2, acme.camera.id, peak_score="high")
    batch = {"v": 2, "type": "batch", "messages": [event(1, acme.camera.id), bad, event(3, acme.camera.id)]}

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        error = await send_recv(ws, batch)
        assert (error["type"], error["field"], error["seq"]) == ("error", "messages.1.event_open.peak_score", 2)
        ack = await ws.receive_json_from(timeout=5)
        assert ack["seq"] == 3 and [r["status"] for r in ack["results"]] == ["ok", "rejected", "ok"]
        await ws.disconnect()

    async_to_sync(run)()
    assert len(alerts_of(acme)) == 2


def test_heartbeats_are_coalesced_and_silent_devices_go_offline(acme, settings):  # noqa: ANN001
    settings.EDGE_HEARTBEAT_FLUSH_S = 3600  # only the first beat and the one at disconnect are written
    device, key = enroll(acme)

    def beat(seq: int, fps: float) -> dict:
        return {"v": 2, "type": "heartbeat", "seq": seq, "ts": 1_790_000_000.0 + seq, "agent_version": "0.2.0",
                "cameras": [{"camera_id": str(acme.camera.id), "state": "running", "fps": fps}]}

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        for seq in range(1, 6):
            ack = await send_recv(ws, beat(seq, float(seq)))
            assert ack["seq"] == seq and ack["results"][0]["status"] == "ok"
        row = await sync_to_async(device_row)(device.id)
        assert row.last_seq == 5  # last_seq advances per frame
        assert row.health["heartbeat"]["cameras"][0]["fps"] == 1.0  # the written beat is the first
        await ws.disconnect()

    async_to_sync(run)()
    row = device_row(device.id)
    assert row.health["heartbeat"]["cameras"][0]["fps"] == 5.0  # the latest, flushed at disconnect
    assert row.status == DeviceStatus.ONLINE
    assert devices_mark_offline(tenant_id=acme.tenant.id, window_s=60) == 0  # seen just now
    EdgeDevice.unscoped_objects.filter(id=device.id).update(last_seen_at=timezone.now() - timedelta(seconds=120))
    assert devices_mark_offline(tenant_id=acme.tenant.id, window_s=60) == 1
    assert device_row(device.id).status == DeviceStatus.OFFLINE


def test_devices_api_shows_health_and_last_seq(acme):  # noqa: ANN001
    from tests.conftest import client_for

    EdgeDevice.unscoped_objects.filter(id=acme.device.id).update(last_seq=7, agent_version="0.2.0",
                                                                 health={"heartbeat": {"outbox_depth": 3}})
    body = client_for(acme.users["alice"]).get("/api/v1/devices/").json()
    rows = body["results"] if isinstance(body, dict) else body
    [row] = [r for r in rows if r["id"] == acme.device.id]
    assert (row["last_seq"], row["agent_version"], row["health"]["heartbeat"]["outbox_depth"]) == (7, "0.2.0", 3)


def test_platform_task_marks_only_silent_online_devices_offline(acme, globex):  # noqa: ANN001
    from cameras.tasks import platform_devices_mark_offline

    old = timezone.now() - timedelta(seconds=600)
    EdgeDevice.unscoped_objects.filter(id=acme.device.id).update(status=DeviceStatus.ONLINE, last_seen_at=old)
    EdgeDevice.unscoped_objects.filter(id=globex.device.id).update(status=DeviceStatus.ONLINE,
                                                                   last_seen_at=timezone.now())
    assert platform_devices_mark_offline.delay().get() == 1
    assert device_row(acme.device.id).status == DeviceStatus.OFFLINE
    assert device_row(globex.device.id).status == DeviceStatus.ONLINE  # positive control: seen just now


@pytest.mark.parametrize("first", [json.dumps(event(1, 1)), "not json", b"\x00binary"])
def test_a_first_frame_that_is_not_a_hello_is_closed_4426(acme, first):  # noqa: ANN001
    async def run() -> None:
        ws = WebsocketCommunicator(application, "/ws/edge/", headers=HEADERS)
        await ws.connect()
        assert (await ws.receive_json_from())["type"] == "challenge"
        if isinstance(first, bytes):
            await ws.send_to(bytes_data=first)
        else:
            await ws.send_to(text_data=first)
        out = await ws.receive_output(timeout=5)
        if out["type"] == "websocket.send":  # an error naming the field may come first
            assert json.loads(out["text"])["code"] == 4426
            out = await ws.receive_output(timeout=5)
        assert out == {"type": "websocket.close", "code": 4426}

    async_to_sync(run)()


def test_batch_over_the_limit_is_refused_by_name_and_nothing_is_written(acme):  # noqa: ANN001
    device, key = enroll(acme)

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        beats = [{"v": 2, "type": "heartbeat", "seq": i, "ts": 1.0, "agent_version": "a"} for i in range(1, 502)]
        error = await send_recv(ws, {"v": 2, "type": "batch", "messages": beats})
        assert (error["type"], error["field"]) == ("error", "messages")
        ack = await send_recv(ws, event(1, acme.camera.id))  # positive control
        assert ack["results"][0]["status"] == "ok"
        await ws.disconnect()

    async_to_sync(run)()
    assert len(alerts_of(acme)) == 1


def test_new_alerts_of_a_big_batch_are_stored_and_pushed_as_the_api_shows_them(acme):  # noqa: ANN001
    """20 new alerts: on PostgreSQL they go in with COPY (ingest._copy_rows), elsewhere with
    bulk_create; either way the stored rows are what the device sent plus the model's defaults,
    and each pushed wall row is AlertSerializer of the stored alert."""
    from detection.api.serializers import AlertSerializer

    device, key = enroll(acme)
    messages = [event(i, acme.camera.id, event_id=f"ev-copy-{i:04d}", zone="Door" if i % 2 else None,
                      peak_score=2.0 + i) for i in range(1, 21)]
    closing = event(len(messages) + 1, acme.camera.id, kind="event_close", event_id="ev-copy-0001")  # same frame
    messages.append(closing)

    async def run() -> list[dict]:
        wall = await open_wall(acme.users["olga"])
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        ack = await send_recv(ws, {"v": 2, "type": "batch", "messages": messages})
        assert {r["status"] for r in ack["results"]} == {"ok"} and ack["seq"] == len(messages)
        pushed = await wall.receive_json_from(timeout=5)
        for sock in (ws, wall):
            await sock.disconnect()
        return pushed["alerts"]

    pushed = async_to_sync(run)()
    stored = alerts_of(acme)
    assert len(stored) == len(messages) - 1 == len(pushed)
    by_event = {a.event_id: a for a in stored}
    first = by_event["ev-copy-0001"]
    assert (first.zone_id, by_event["ev-copy-0002"].zone_id) == (acme.zone.id, None)
    assert first.started_at.timestamp() == 1_790_000_000.0 - 2.5  # wall_ts - (peak_ts - start_ts)
    assert first.ended_at is not None and first.ended_at.timestamp() == 1_790_000_000.0 + 7.5  # closed in the frame
    assert by_event["ev-copy-0002"].ended_at is None
    assert first.per_model == {"flow": {"score": 2.0, "vote": True, "type": "optical_flow", "weight": 1.0,
                                        "evidence": [{"kind": "cell", "label": "speed", "value": 2.0, "where": []}]}}
    assert first.boxes == [[1, 2, 30, 40]] and first.curve["scores"] == [0.1, 0.9, 2.0]
    assert {(a.kind, a.status, a.reason_code, a.note, a.handled_by_id, a.handled_at) for a in stored} == {
        ("anomaly", "open", "", "", None, None)}
    assert all(a.created_at is not None and a.updated_at is not None and a.device_id == device.id for a in stored)
    assert sorted(a.peak_score for a in stored) == [2.0 + i for i in range(1, 21)]
    with tenant_scope(acme.tenant.id):
        api = {row["id"]: dict(row) for row in AlertSerializer(
            Alert.objects.select_related("camera", "zone", "handled_by").filter(device_id=device.id), many=True).data}
    assert {row["id"]: row for row in pushed} == api


def test_group_lookups_load_the_rows_the_orm_loads(acme):  # noqa: ANN001
    """On PostgreSQL a group commit reads devices, cameras, zones and known alerts by fixed SQL in
    one pipeline (ingest._group_rows); the instances must be what the ORM builds: same values after
    the fields' converters (JSON, datetimes), same deferred fields; only the device's own cameras."""
    from django.db import transaction

    from cameras.models import Zone
    from detection.ingest import _CAMERA_FIELDS, _ZONE_FIELDS, _group_rows

    device, _ = enroll(acme)
    EdgeDevice.unscoped_objects.filter(id=device.id).update(
        health={"streams": {"1": {"status": "opened", "ts": 1.5}}}, last_seen_at=timezone.now(), last_seq=7)
    known = Alert.unscoped_objects.create(tenant=acme.tenant, camera=acme.camera, device_id=device.id,
                                          event_id="known-event-1", started_at=timezone.now(), peak_score=1.0)
    with transaction.atomic():  # the other camera is not this device's
        rows = _group_rows([device.id], {device.id: {acme.camera.id, acme.other_camera.id}},
                           {"known-event-1", "unknown-event-2"})
    [locked] = rows.devices
    orm = EdgeDevice.unscoped_objects.get(id=device.id)
    fields = [f.attname for f in EdgeDevice._meta.concrete_fields]
    assert {f: getattr(locked, f) for f in fields} == {f: getattr(orm, f) for f in fields}
    assert locked.health["streams"]["1"]["ts"] == 1.5 and locked.get_deferred_fields() == set()

    [camera] = rows.cameras
    orm_camera = Camera.unscoped_objects.only(*_CAMERA_FIELDS).get(id=acme.camera.id)
    assert {f: getattr(camera, f) for f in _CAMERA_FIELDS} == {f: getattr(orm_camera, f) for f in _CAMERA_FIELDS}
    assert camera.get_deferred_fields() == orm_camera.get_deferred_fields() != set()

    [zone] = rows.zones
    orm_zone = Zone.unscoped_objects.only(*_ZONE_FIELDS).get(id=acme.zone.id)
    assert {f: getattr(zone, f) for f in _ZONE_FIELDS} == {f: getattr(orm_zone, f) for f in _ZONE_FIELDS}
    assert zone.get_deferred_fields() == orm_zone.get_deferred_fields()
    assert rows.known == [known.id]


def test_pipelined_frames_get_every_result_once_in_order_in_cumulative_acks(acme):  # noqa: ANN001
    """Frames sent without waiting: frames committed together may share one ack (cumulative
    ``seq``, every message's result), never out of order, never twice, never over MAX_BATCH
    results; every event is stored once."""
    from edge_agent.protocol import MAX_BATCH

    device, key = enroll(acme)
    frames: list[dict] = [event(seq, acme.camera.id) for seq in range(1, 31)]
    for first in (31, 231, 431):  # 3 x 200: more than MAX_BATCH results if one commit held them all
        frames.append({"v": 2, "type": "batch", "messages": [event(seq, acme.camera.id)
                                                             for seq in range(first, first + 200)]})

    async def run() -> list[dict]:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        for frame in frames:
            await ws.send_json_to(frame)
        acks: list[dict] = []
        while sum(len(a["results"]) for a in acks) < 630:
            acks.append(await ws.receive_json_from(timeout=10))
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return acks

    acks = async_to_sync(run)()
    results = [r for a in acks for r in a["results"]]
    assert [r["seq"] for r in results] == list(range(1, 631)) and {r["status"] for r in results} == {"ok"}
    # seq is cumulative: every seq up to it is committed (frames of one commit may all say its last)
    assert all(a["type"] == "ack" and a["seq"] >= a["results"][-1]["seq"] for a in acks)
    assert [a["seq"] for a in acks] == sorted(a["seq"] for a in acks) and acks[-1]["seq"] == 630
    assert all(len(a["results"]) <= MAX_BATCH for a in acks) and len(acks) <= len(frames)
    assert len(alerts_of(acme)) == 630
