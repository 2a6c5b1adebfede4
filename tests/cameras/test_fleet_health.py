"""Fleet health: offline devices and lost streams become one alert each, ended on return; the
device and camera APIs show the last coalesced heartbeat's values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from cameras.models import DeviceStatus, EdgeDevice, StreamState
from detection.models import Alert, AlertKind
from detection.tasks import FLEET_HEALTH_TASK, platform_fleet_health_sweep
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.detection.test_edge_ingest import enroll, open_edge, open_wall, send_recv, welcome_of
from vadcloud.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


def health_alerts(world, kind: str) -> list[Alert]:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return list(Alert.objects.filter(kind=kind).order_by("id"))


def make_silent(device: EdgeDevice, seconds: float = 600) -> None:
    EdgeDevice.unscoped_objects.filter(id=device.id).update(
        status=DeviceStatus.ONLINE, last_seen_at=timezone.now() - timedelta(seconds=seconds))


def run_beat_entry() -> dict:
    """Run the task that settings' beat schedule names, by that name, as celery would."""
    entry = settings.CELERY_BEAT_SCHEDULE["fleet-health-sweep"]
    assert entry["task"] == FLEET_HEALTH_TASK and entry["schedule"] == settings.EDGE_OFFLINE_CHECK_S
    return celery_app.signature(entry["task"]).delay().get()  # eager in tests: runs here


def test_silent_device_gets_one_offline_alert_however_many_sweeps(acme, globex):  # noqa: ANN001
    make_silent(acme.device)
    make_silent(globex.device, seconds=5)  # heard from recently: stays online
    assert platform_fleet_health_sweep() == {"offline": 1, "opened": 1, "ended": 0}
    for _ in range(3):
        assert run_beat_entry() == {"offline": 0, "opened": 0, "ended": 0}
    [alert] = health_alerts(acme, AlertKind.DEVICE_OFFLINE)
    assert (alert.device_id, alert.camera_id, alert.ended_at, alert.status) == (acme.device.id, acme.camera.id,
                                                                                 None, "open")
    assert EdgeDevice.unscoped_objects.get(id=acme.device.id).status == DeviceStatus.OFFLINE
    assert EdgeDevice.unscoped_objects.get(id=globex.device.id).status == DeviceStatus.ONLINE
    assert health_alerts(globex, AlertKind.DEVICE_OFFLINE) == []


def test_device_reconnecting_ends_its_offline_alert_and_a_later_silence_opens_a_new_one(acme):  # noqa: ANN001
    device, key = enroll(acme)
    make_silent(device)
    assert run_beat_entry()["opened"] == 1

    async def reconnect() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        await ws.disconnect()

    async_to_sync(reconnect)()
    [alert] = health_alerts(acme, AlertKind.DEVICE_OFFLINE)
    assert alert.ended_at is not None
    assert EdgeDevice.unscoped_objects.get(id=device.id).status == DeviceStatus.ONLINE
    assert run_beat_entry() == {"offline": 0, "opened": 0, "ended": 0}  # nothing left to end
    make_silent(device)
    assert run_beat_entry() == {"offline": 1, "opened": 1, "ended": 0}
    assert [a.ended_at is None for a in health_alerts(acme, AlertKind.DEVICE_OFFLINE)] == [False, True]


def test_sweep_ends_the_alert_of_a_device_that_came_back_without_a_handshake(acme):  # noqa: ANN001
    make_silent(acme.device)
    platform_fleet_health_sweep()
    EdgeDevice.unscoped_objects.filter(id=acme.device.id).update(status=DeviceStatus.ONLINE,
                                                                 last_seen_at=timezone.now())  # a frame arrived
    assert platform_fleet_health_sweep() == {"offline": 0, "opened": 0, "ended": 1}
    assert platform_fleet_health_sweep() == {"offline": 0, "opened": 0, "ended": 0}


def test_offline_push_reaches_walls_of_the_devices_site_only_in_one_frame(acme):  # noqa: ANN001
    from guardian.shortcuts import assign_perm

    hq_only = acme.add("hana", "operator", all_sites=False)
    berlin_only = acme.add("bert", "operator", all_sites=False)
    with tenant_scope(acme.tenant.id):
        assign_perm("tenants.view_site", hq_only, acme.site)
        assign_perm("tenants.view_site", berlin_only, acme.other_site)
        second = EdgeDevice.objects.create(site=acme.site, name="box-2")
    make_silent(acme.device)
    make_silent(second)

    async def run() -> None:
        hana = await open_wall(hq_only)
        bert = await open_wall(berlin_only)
        from asgiref.sync import sync_to_async

        await sync_to_async(platform_fleet_health_sweep)()
        frames = [await hana.receive_json_from(timeout=5), await hana.receive_json_from(timeout=5)]
        by_type = {f["type"]: f for f in frames}
        assert [a["kind"] for a in by_type["alerts"]["alerts"]] == ["device_offline"]  # box-2 has no camera
        assert sorted(d["name"] for d in by_type["devices"]["devices"]) == ["box-1", "box-2"]
        assert {d["status"] for d in by_type["devices"]["devices"]} == {"offline"}
        assert await hana.receive_nothing(timeout=0.2)  # one frame each, not one per device
        assert await bert.receive_nothing(timeout=0.3)
        for ws in (hana, bert):
            await ws.disconnect()

    async_to_sync(run)()


def _status(seq: int, camera_id: int, status: str, ts: float) -> dict:
    return {"v": 2, "type": "stream_status", "seq": seq, "camera_id": str(camera_id), "status": status,
            "ts": ts, "attempt": 1, "detail": "rtsp timeout"}


def test_stream_lost_opens_one_alert_and_restored_ends_it(acme):  # noqa: ANN001
    device, key = enroll(acme)
    t0 = 1_790_000_000.0

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        for seq, status in ((1, "opened"), (2, "lost"), (3, "lost"), (4, "failed")):
            ack = await send_recv(ws, _status(seq, acme.camera.id, status, t0 + seq))
            assert ack["results"][0]["status"] == "ok"
        await ws.disconnect()

    async_to_sync(run)()
    [alert] = health_alerts(acme, AlertKind.STREAM_LOST)
    assert (alert.camera_id, alert.ended_at, alert.started_at.timestamp()) == (acme.camera.id, None, t0 + 2)
    camera = client_for(acme.users["vera"]).get(f"/api/v1/cameras/{acme.camera.id}/").json()
    assert camera["stream_state"] == StreamState.FAILED
    assert camera["stream_state_since"].startswith("2026-09-21")  # t0 + 4 s, the last change

    async def restore() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        ack = await send_recv(ws, _status(5, acme.camera.id, "restored", t0 + 30))
        assert ack["results"][0]["status"] == "ok"
        await ws.disconnect()

    async_to_sync(restore)()
    [alert] = health_alerts(acme, AlertKind.STREAM_LOST)
    assert alert.ended_at.timestamp() == t0 + 30
    assert client_for(acme.users["vera"]).get(f"/api/v1/cameras/{acme.camera.id}/").json()["stream_state"] == "live"


def test_device_and_camera_api_show_the_last_heartbeat_values(acme, settings):  # noqa: ANN001
    settings.EDGE_HEARTBEAT_FLUSH_S = 0
    device, key = enroll(acme)
    cam = str(acme.camera.id)
    beat = {"v": 2, "type": "heartbeat", "seq": 1, "ts": 1_790_000_000.0, "agent_version": "0.3.0",
            "config_version": 4, "outbox_depth": 12, "outbox_bytes": 3456, "dead_letters": 2,
            "cameras": [{"camera_id": cam, "state": "reconnecting", "fps": 9.5, "frames": 950, "dropped_frames": 7,
                         "latency_p50_ms": 41.0, "latency_p99_ms": 180.5}]}

    async def run() -> None:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        assert (await send_recv(ws, beat))["results"][0]["status"] == "ok"
        assert (await send_recv(ws, _status(2, acme.camera.id, "lost", 1_790_000_001.0)))["seq"] == 2
        await ws.disconnect()

    async_to_sync(run)()
    client = client_for(acme.users["vera"])
    row = client.get(f"/api/v1/devices/{device.id}/").json()
    assert row["online"] is True and row["status"] == "online"
    assert row["last_heartbeat_at"].startswith("2026-09-21T")
    assert (row["agent_version"], row["config_version_applied"]) == ("0.3.0", 4)
    assert (row["outbox_depth"], row["outbox_bytes"], row["dead_letters"]) == (12, 3456, 2)
    assert row["cameras"] == [{"camera_id": cam, "state": "reconnecting", "fps": 9.5, "frames": 950,
                               "dropped_frames": 7, "latency_p50_ms": 41.0, "latency_p99_ms": 180.5,
                               "open_events": 0, "stream": "lost"}]
    listed = client.get("/api/v1/devices/").json()
    assert [r["cameras"] for r in listed["results"] if r["id"] == device.id] == [row["cameras"]]
    camera = client.get(f"/api/v1/cameras/{acme.camera.id}/").json()
    assert camera["health"] == row["cameras"][0]
    other = client.get(f"/api/v1/cameras/{acme.other_camera.id}/").json()
    assert other["health"] is None  # no device, no heartbeat


def test_device_never_heard_from_shows_nulls(acme):  # noqa: ANN001
    row = client_for(acme.users["alice"]).get(f"/api/v1/devices/{acme.device.id}/").json()
    assert (row["online"], row["last_heartbeat_at"], row["outbox_depth"], row["cameras"]) == (False, None, None, [])


def test_other_tenant_cannot_read_device_health(acme, globex):  # noqa: ANN001
    response = client_for(globex.users["mallory"]).get(f"/api/v1/devices/{acme.device.id}/")
    assert response.status_code == 404
    assert client_for(acme.users["alice"]).get(f"/api/v1/devices/{acme.device.id}/").status_code == 200
