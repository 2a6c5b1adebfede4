"""Commands to an edge device: ``POST /api/v1/devices/<id>/commands/`` records one and hands it to the
device's socket; a device that was offline gets it after its next welcome; the agent's
CommandResult (through its durable outbox, acked like events) finishes the record.

End to end with a real cloud and a real agent process: reload, unload_model and
destroy_biometric_templates each go sent -> executed -> result stored.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone

from cameras.live import device_group
from cameras.models import Camera, DeviceCommand, EdgeDevice
from edge_agent.protocol import challenge_bytes
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.detection.edge_live import cloud_and_agent, wait_until
from vadcloud.asgi import application


def url(device_id: int) -> str:
    return f"/api/v1/devices/{device_id}/commands/"


def commands(world) -> list[DeviceCommand]:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return list(DeviceCommand.objects.filter(device_id=world.device.id).order_by("id"))


async def heard(device_id: int, send: Any) -> list[dict[str, Any]]:
    """What the device's group hears while ``send()`` runs (the edge consumer forwards it)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(device_group(device_id), channel)
    await send()
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(layer.receive(channel), 0.2))
        except TimeoutError:
            return got


@pytest.mark.django_db(transaction=True)
def test_admin_sends_a_command_it_is_recorded_pending_and_handed_to_the_device_socket(acme, globex):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    body = {"action": "unload_model", "args": {"camera": acme.camera.id, "model": "flow"}}
    responses: list[Any] = []

    async def send() -> None:
        responses.append(await sync_to_async(alice.post)(url(acme.device.id), body, format="json"))

    messages = async_to_sync(heard)(acme.device.id, send)
    response = responses[0]
    assert response.status_code == 201, response.content
    sent = response.json()
    assert (sent["action"], sent["args"], sent["status"], sent["finished_at"]) == (
        "unload_model", {"camera": acme.camera.id, "model": "flow"}, "pending", None)
    assert messages == [{"type": "edge.send", "message": {
        "v": 2, "type": "command", "command_id": str(sent["id"]), "action": "unload_model", "model": "flow",
        "camera_id": str(acme.camera.id)}}]
    listed = alice.get(url(acme.device.id))
    assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [sent["id"]]
    mallory = client_for(globex.users["mallory"])  # another tenant's admin: 404, nothing sent
    assert async_to_sync(heard)(acme.device.id, sync_to_async(
        lambda: responses.append(mallory.post(url(acme.device.id), {"action": "reload"}, format="json")))) == []
    assert responses[-1].status_code == 404
    assert mallory.get(url(acme.device.id)).status_code == 404
    assert len(commands(acme)) == 1


def test_only_admins_send_commands_and_everyone_who_sees_the_device_reads_them(acme):  # noqa: ANN001
    olga = client_for(acme.users["olga"])  # operator
    refused = olga.post(url(acme.device.id), {"action": "reload"}, format="json")
    assert refused.status_code == 403 and "does not allow" in refused.json()["detail"]
    assert commands(acme) == []
    assert client_for(acme.users["alice"]).post(url(acme.device.id), {"action": "reload"},
                                                format="json").status_code == 201
    assert [c["action"] for c in olga.get(url(acme.device.id)).json()] == ["reload"]


def test_listing_commands_takes_a_fixed_number_of_queries(acme, django_assert_num_queries):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    for _ in range(3):
        alice.post(url(acme.device.id), {"action": "reload"}, format="json")
    with django_assert_num_queries(6):  # the same for any number of commands (no per-row query)
        response = alice.get(url(acme.device.id))
    assert len(response.json()) == 3


def test_a_revoked_device_takes_no_commands(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    assert alice.post(f"/api/v1/devices/{acme.device.id}/revoke/").status_code == 200
    response = alice.post(url(acme.device.id), {"action": "reload"}, format="json")
    assert response.status_code == 409 and "revoked" in response.json()["detail"]
    assert commands(acme) == []


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"action": "format_disk"}, "action", "unknown action 'format_disk'; valid: ['destroy_biometric_templates'"),
    ({"action": "reload", "args": {"force": True}}, "args", "reload takes no args; got ['force']"),
    ({"action": "reload", "args": [1]}, "args", "args must be an object"),
    ({"action": "unload_model", "args": {"model": "flow"}}, "args", "unload_model needs 'camera'"),
    ({"action": "unload_model", "args": {"camera": "CAMERA", "model": ""}}, "args", "unload_model needs 'model'"),
    ({"action": "unload_model", "args": {"camera": "CAMERA", "model": "flow", "x": 1}}, "args", "unknown: ['x']"),
    ({"action": "unload_model", "args": {"camera": "OTHER", "model": "flow"}}, "args", "is not one of device"),
    ({}, "action", "This field is required."),
])
def test_bad_actions_and_args_are_400_naming_the_problem(acme, globex, body, field, message):  # noqa: ANN001
    args = body.get("args")
    if isinstance(args, dict) and args.get("camera") in ("CAMERA", "OTHER"):
        args["camera"] = acme.camera.id if args["camera"] == "CAMERA" else globex.camera.id
    response = client_for(acme.users["alice"]).post(url(acme.device.id), body, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()[field]), response.json()
    assert commands(acme) == []


def test_a_camera_of_another_device_cannot_be_named(acme):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        box2 = EdgeDevice.objects.create(site=acme.site, name="box-2")
        cam2 = Camera.objects.create(site=acme.site, device=box2, name="Till")
    response = client_for(acme.users["alice"]).post(url(acme.device.id), {
        "action": "unload_model", "args": {"camera": cam2.id, "model": "flow"}}, format="json")
    assert response.status_code == 400
    assert client_for(acme.users["alice"]).post(url(box2.id), {  # positive control: its own device
        "action": "unload_model", "args": {"camera": cam2.id, "model": "flow"}}, format="json").status_code == 201


# --- over /ws/edge/: delivered after welcome, result recorded -------------------------------------
def enroll(world) -> Ed25519PrivateKey:  # noqa: ANN001
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    EdgeDevice.unscoped_objects.filter(id=world.device.id).update(public_key=public, enrolled_at=timezone.now())
    return key


async def open_edge(device_id: int, key: Ed25519PrivateKey) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/edge/", headers=[(b"host", b"127.0.0.1")])
    connected, _ = await ws.connect()
    assert connected
    challenge = await ws.receive_json_from(timeout=5)
    signature = base64.b64encode(key.sign(challenge_bytes(challenge["nonce"], device_id))).decode()
    await ws.send_json_to({"v": 2, "type": "hello", "device_id": device_id, "agent_version": "0.2.0",
                           "capabilities": ["command"], "signature": signature})
    assert (await ws.receive_json_from(timeout=5))["type"] == "welcome"
    return ws


@pytest.mark.django_db(transaction=True)
def test_a_command_sent_while_offline_is_delivered_after_welcome_and_its_result_is_stored(acme):  # noqa: ANN001
    key = enroll(acme)
    alice = client_for(acme.users["alice"])
    first = alice.post(url(acme.device.id), {"action": "destroy_biometric_templates"}, format="json").json()
    second = alice.post(url(acme.device.id), {"action": "reload"}, format="json").json()

    async def run() -> None:
        ws = await open_edge(acme.device.id, key)
        got = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        assert [(m["type"], m["command_id"], m["action"]) for m in got] == [
            ("command", str(first["id"]), "destroy_biometric_templates"), ("command", str(second["id"]), "reload")]
        await ws.send_json_to({"v": 2, "type": "command_result", "seq": 1, "command_id": str(first["id"]),
                               "ok": True, "detail": "destroyed 3 biometric template file(s)"})
        await ws.send_json_to({"v": 2, "type": "command_result", "seq": 2, "command_id": str(second["id"]),
                               "ok": False, "detail": "no config yet"})
        results: list[dict] = []  # one ack may cover both frames when one commit held them
        while len(results) < 2:
            ack = await ws.receive_json_from(timeout=5)
            results += ack["results"]
        assert [(r["seq"], r["status"]) for r in results] == [(1, "ok"), (2, "ok")] and ack["seq"] == 2
        await ws.disconnect()
        again = await open_edge(acme.device.id, key)  # answered: not sent again
        assert await again.receive_nothing(timeout=0.3)
        await again.disconnect()

    async_to_sync(run)()
    rows = {c["id"]: c for c in alice.get(url(acme.device.id)).json()}
    assert (rows[first["id"]]["status"], rows[first["id"]]["result_message"]) == (
        "ok", "destroyed 3 biometric template file(s)")
    assert (rows[second["id"]]["status"], rows[second["id"]]["result_message"]) == ("error", "no config yet")
    assert rows[first["id"]]["finished_at"] and rows[first["id"]]["delivered_at"]


# --- end to end: the real agent executes and answers -------------------------------------------
def test_each_command_round_trips_through_the_real_agent(tmp_path):  # noqa: ANN001
    def local(ids: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": str(ids["a"]), "source": "sim:5",
                 "models": [{"type": "zone_rules"}, {"type": "zone_rules", "name": "rules-2"}]},
                {"id": str(ids["b"]), "source": "sim:6", "models": [{"type": "zone_rules"}]}]

    with cloud_and_agent(tmp_path, local) as (cloud, agent):
        ids = cloud.ids
        a = str(ids["a"])
        agent.wait_for(lambda x: x.get("event") == "config applied", 60, "the first config applied")
        templates = agent.data_dir / "biometric"
        (templates / "watchlist").mkdir(parents=True)
        for name in ("watchlist/a.npy", "watchlist/b.npy", "faces.json"):
            (templates / name).write_bytes(b"template")

        def run(action: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
            status, sent = cloud.api("POST", url(ids["device"]), {"action": action, "args": args or {}})
            assert status == 201, sent

            def finished() -> dict[str, Any] | None:
                _, rows = cloud.api("GET", url(ids["device"]))
                row = next(r for r in rows if r["id"] == sent["id"])
                return row if row["status"] != "pending" else None

            return wait_until(finished, 15, f"the result of {action}")

        unload = run("unload_model", {"camera": ids["a"], "model": "rules-2"})
        assert (unload["status"], unload["result_message"]) == (
            "ok", f"model 'rules-2' of camera '{a}' unloaded until the next config")
        reconciled = agent.wait_for(lambda x: x.get("event") == "cameras reconciled" and x.get("restarted") == [a],
                                    5, "camera a restarted without rules-2")
        assert reconciled["unchanged"] == [str(ids["b"])]
        missing = run("unload_model", {"camera": ids["a"], "model": "flow"})
        assert missing["status"] == "error" and "has no model 'flow'" in missing["result_message"]
        destroyed = run("destroy_biometric_templates")
        assert destroyed["status"] == "ok" and destroyed["result_message"].startswith(
            "destroyed 3 biometric template file(s)")
        assert not any(p.is_file() for p in templates.rglob("*"))
        again = run("destroy_biometric_templates")  # idempotent
        assert again["status"] == "ok" and again["result_message"].startswith("destroyed 0 ")
        reload = run("reload")
        assert reload["status"] == "ok" and "restarted 2 camera(s)" in reload["result_message"]
        assert agent.proc.poll() is None


def test_a_command_re_sent_after_a_reconnect_is_executed_once(tmp_path):  # noqa: ANN001
    import threading

    from edge_agent.config import AgentConfig
    from edge_agent.control import BIOMETRIC_DIR, EdgeControl
    from edge_agent.pipeline.runner import Runner
    from edge_agent.protocol import Command, CommandResult

    out: list[Any] = []
    control = EdgeControl(store=None, local=AgentConfig(), data_dir=tmp_path, emit=out.append)
    runner = Runner(AgentConfig(), out.append)
    control.attach(runner)
    thread = threading.Thread(target=runner.run, kwargs={"heartbeat_s": 60, "keep_running": True})
    thread.start()
    try:
        (tmp_path / BIOMETRIC_DIR).mkdir()
        (tmp_path / BIOMETRIC_DIR / "faces.npy").write_bytes(b"x")
        command = Command(command_id="41", action="destroy_biometric_templates")
        control.on_command(command)
        control.on_command(command)  # the cloud re-sends what it has no result for yet
        control.on_command(Command(command_id="42", action="destroy_biometric_templates"))
        wait_until(lambda: len([m for m in out if isinstance(m, CommandResult)]) >= 2, 5, "two results")
    finally:
        runner.stop()
        thread.join(timeout=10)
    results = [(m.command_id, m.ok, m.detail.split(" under ")[0]) for m in out if isinstance(m, CommandResult)]
    assert results == [("41", True, "destroyed 1 biometric template file(s)"),
                       ("42", True, "destroyed 0 biometric template file(s)")]
