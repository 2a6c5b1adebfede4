"""Portal pages for cameras, zones and devices (frontend/views_cameras.py) through the Django test client."""

from __future__ import annotations

import pytest
from django.test import Client

from cameras.edgeconfig import device_config
from cameras.models import Camera, DeviceCommand, EdgeDevice, EnrollmentToken, Shift
from tenants.scope import tenant_scope

HEARTBEAT = {"heartbeat": {"ts": 1764600000.0, "config_version": 3, "outbox_depth": 7, "dead_letters": 2,
                           "cameras": [{"camera_id": None, "state": "running", "fps": 9.5, "frames": 100,
                                        "dropped_frames": 1, "latency_p50_ms": 41.0, "latency_p99_ms": 180.0,
                                        "open_events": 0}]},
             "streams": {}}


def login(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def beating(acme):  # noqa: ANN001, ANN201
    """Acme's device has sent a heartbeat for its camera."""
    health = {**HEARTBEAT, "heartbeat": {**HEARTBEAT["heartbeat"], "cameras": [
        {**HEARTBEAT["heartbeat"]["cameras"][0], "camera_id": str(acme.camera.id)}]}}
    with tenant_scope(acme.tenant.id):
        EdgeDevice.objects.filter(id=acme.device.id).update(health=health, status="online", agent_version="0.9.1")
    return acme


@pytest.mark.parametrize("username", ["owen", "alice", "olga", "carl", "vera"])
def test_every_role_sees_the_camera_list_with_health(beating, username):  # noqa: ANN001
    page = login(beating.users[username]).get("/cameras/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Entrance" in html and "Dock" in html and "Acme Retail HQ" in html
    assert "9.5" in html and "41 / 180 ms" in html  # fps and latency from the last heartbeat


def test_camera_list_shows_only_the_members_tenant(acme, globex):  # noqa: ANN001
    with tenant_scope(globex.tenant.id):
        Camera.objects.filter(id=globex.camera.id).update(name="Globex secret cam")
    html = login(acme.users["alice"]).get("/cameras/").content.decode()
    assert "Globex secret cam" not in html


def test_camera_list_without_cameras_says_so(globex):  # noqa: ANN001
    with tenant_scope(globex.tenant.id):
        Camera.objects.all().delete()
    html = login(globex.users["mallory"]).get("/cameras/").content.decode()
    assert "No cameras yet" in html


def test_camera_detail_never_shows_the_stored_password(acme):  # noqa: ANN001
    html = login(acme.users["alice"]).get(f"/cameras/{acme.camera.id}/").content.decode()
    assert "s3cret" not in html
    assert "10.0.0.5" in html
    assert "Night" in html  # the site's shift with its sensitivity


def test_other_tenants_camera_device_and_zone_editor_are_404(acme, globex):  # noqa: ANN001
    client = login(globex.users["mallory"])
    for url in (f"/cameras/{acme.camera.id}/", f"/cameras/{acme.camera.id}/zones/", f"/devices/{acme.device.id}/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/cameras/{acme.camera.id}/", {"action": "settings", "name": "x"}).status_code == 404
    assert client.post(f"/devices/{acme.device.id}/", {"action": "enrollment"}).status_code == 404


def test_admin_edits_camera_settings_and_a_blank_url_keeps_the_stored_one(acme):  # noqa: ANN001
    client = login(acme.users["alice"])
    response = client.post(f"/cameras/{acme.camera.id}/", {
        "action": "settings", "name": "Front door", "stream_url": "", "scene_class": "retail",
        "context": "publicly_accessible"})
    assert response.status_code == 302
    with tenant_scope(acme.tenant.id):
        camera = Camera.objects.get(id=acme.camera.id)
    assert (camera.name, camera.scene_class, camera.context) == ("Front door", "retail", "publicly_accessible")
    assert camera.stream_url == "rtsp://cam:s3cret@10.0.0.5/stream"
    assert "Camera settings saved" in client.get(response["Location"]).content.decode()


def test_bad_stream_url_and_duplicate_name_are_400_with_the_reason(acme):  # noqa: ANN001
    client = login(acme.users["alice"])
    bad = client.post(f"/cameras/{acme.camera.id}/", {"action": "settings", "stream_url": "ftp://x/y"})
    assert bad.status_code == 400
    assert "stream_url" in bad.content.decode()
    with tenant_scope(acme.tenant.id):
        Camera.objects.create(site=acme.site, name="Backyard")
    dup = client.post(f"/cameras/{acme.camera.id}/", {"action": "settings", "name": "Backyard"})
    assert dup.status_code == 400
    assert "already exists at this site" in dup.content.decode()


@pytest.mark.parametrize("username", ["olga", "carl", "vera"])
def test_non_admins_cannot_change_a_camera_or_a_shift(acme, username):  # noqa: ANN001
    client = login(acme.users[username])
    html = client.get(f"/cameras/{acme.camera.id}/").content.decode()
    assert 'name="stream_url"' not in html  # no form offered
    assert client.post(f"/cameras/{acme.camera.id}/", {"action": "settings", "name": "x"}).status_code == 403
    assert client.post(f"/cameras/{acme.camera.id}/", {
        "action": "shift", "shift": acme.shift.id, "sensitivity": "0.9"}).status_code == 403


def test_admin_sets_a_shifts_sensitivity_and_out_of_range_is_400(acme):  # noqa: ANN001
    client = login(acme.users["alice"])
    url = f"/cameras/{acme.camera.id}/"
    assert client.post(url, {"action": "shift", "shift": acme.shift.id, "sensitivity": "0.8"}).status_code == 302
    with tenant_scope(acme.tenant.id):
        assert Shift.objects.get(id=acme.shift.id).sensitivity == 0.8
    bad = client.post(url, {"action": "shift", "shift": acme.shift.id, "sensitivity": "7"})
    assert bad.status_code == 400
    assert "sensitivity" in bad.content.decode()
    assert client.post(url, {"action": "shift", "shift": "abc", "sensitivity": "0.5"}).status_code == 404
    assert client.post(url, {"action": "explode"}).status_code == 400


def test_zone_editor_carries_the_zones_and_a_note_without_scene_image(acme):  # noqa: ANN001
    html = login(acme.users["alice"]).get(f"/cameras/{acme.camera.id}/zones/").content.decode()
    assert 'id="zone-editor-data"' in html and '"Door"' in html
    assert "No scene image yet" in html
    assert "zones.js" in html


def test_zone_editor_is_read_only_for_an_operator(acme):  # noqa: ANN001
    html = login(acme.users["olga"]).get(f"/cameras/{acme.camera.id}/zones/").content.decode()
    assert '"can_edit": false' in html
    assert 'id="zone-new"' not in html


def test_devices_list_shows_heartbeat_fields(beating):  # noqa: ANN001
    html = login(beating.users["olga"]).get("/devices/").content.decode()
    assert "box-1" in html and "online" in html and "0.9.1" in html
    assert ">7<" in html  # outbox depth
    assert "Create a device" not in html  # operators do not create devices


def test_admin_creates_a_device_and_gets_the_install_command_once(acme):  # noqa: ANN001
    client = login(acme.users["alice"])
    created = client.post("/devices/", {"site": acme.site.id, "name": "backroom-box"})
    assert created.status_code == 302
    with tenant_scope(acme.tenant.id):
        device = EdgeDevice.objects.get(name="backroom-box")
    assert created["Location"] == f"/devices/{device.id}/"
    page = client.post(f"/devices/{device.id}/", {"action": "enrollment"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "curl -fsSL" in html and "--token" in html
    assert "no-cache" in page["Cache-Control"] or "no-store" in page["Cache-Control"]
    with tenant_scope(acme.tenant.id):
        assert EnrollmentToken.objects.filter(device=device).count() == 1
    assert "--token" not in client.get(f"/devices/{device.id}/").content.decode()  # shown once


def test_device_create_errors_are_400_with_the_field(acme, globex):  # noqa: ANN001
    client = login(acme.users["alice"])
    assert client.post("/devices/", {"site": acme.site.id, "name": ""}).status_code == 400
    other = client.post("/devices/", {"site": globex.site.id, "name": "sneaky"})
    assert other.status_code == 400
    assert "site" in other.content.decode()
    dup = client.post("/devices/", {"site": acme.site.id, "name": "box-1"})
    assert dup.status_code == 400
    assert login(acme.users["olga"]).post("/devices/", {"site": acme.site.id, "name": "x"}).status_code == 403


def test_admin_revokes_a_device_and_then_gets_no_token(acme):  # noqa: ANN001
    client = login(acme.users["alice"])
    assert client.post(f"/devices/{acme.device.id}/", {"action": "revoke"}).status_code == 302
    assert "revoked" in client.get(f"/devices/{acme.device.id}/").content.decode()
    again = client.post(f"/devices/{acme.device.id}/", {"action": "enrollment"})
    assert again.status_code == 409
    assert "revoked" in again.content.decode()


def test_admin_sends_a_command_and_sees_it_listed(acme):  # noqa: ANN001
    client = login(acme.users["alice"])
    page = client.post(f"/devices/{acme.device.id}/", {"action": "command", "command": "reload"}, follow=True)
    assert page.redirect_chain == [(f"/devices/{acme.device.id}/", 302)]
    assert "Command reload sent" in page.content.decode()
    with tenant_scope(acme.tenant.id):
        assert DeviceCommand.objects.filter(device_id=acme.device.id, action="reload").count() == 1
    bad = client.post(f"/devices/{acme.device.id}/", {"action": "command", "command": "unload_model",
                                                      "camera": str(acme.other_camera.id), "model": "flow"})
    assert bad.status_code == 400
    assert "is not one of device" in bad.content.decode()
    assert login(acme.users["olga"]).post(
        f"/devices/{acme.device.id}/", {"action": "command", "command": "reload"}).status_code == 403


def test_zone_saved_through_the_api_the_editor_uses_is_in_the_device_config(acme):  # noqa: ANN001
    client = login(acme.users["alice"])
    client.get(f"/cameras/{acme.camera.id}/zones/")
    response = client.post("/api/v1/zones/", {"camera": acme.camera.id, "name": "Till", "kind": "loitering",
                                              "points": [[0.2, 0.2], [0.6, 0.2], [0.6, 0.7]], "loiter_seconds": 30},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    config = device_config(device=acme.device)
    zones = {z["name"]: z for z in config["cameras"][0]["zones"]}
    assert zones["Till"]["loiter_seconds"] == 30


def test_pages_need_login(acme):  # noqa: ANN001
    for url in ("/cameras/", f"/cameras/{acme.camera.id}/", f"/cameras/{acme.camera.id}/zones/", "/devices/",
                f"/devices/{acme.device.id}/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_zone_editor_uses_the_scene_image_when_the_camera_has_one(acme, settings, tmp_path):  # noqa: ANN001
    from django.core.files.base import ContentFile

    from tenants.models import Site

    settings.MEDIA_ROOT = tmp_path / "media"
    with tenant_scope(acme.tenant.id):
        Site.objects.filter(id=acme.site.id).update(scene_images_allowed=True)
        Camera.objects.get(id=acme.camera.id).scene_image.save("s.jpg", ContentFile(b"\xff\xd8\xff\xe0jpeg"))
    html = login(acme.users["alice"]).get(f"/cameras/{acme.camera.id}/zones/").content.decode()
    assert f'href="/api/v1/cameras/{acme.camera.id}/scene-image/"' in html
    assert "No scene image yet" not in html


def _queries(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/cameras/", "/devices/"])
def test_list_pages_cost_the_same_queries_for_more_rows(beating, url):  # noqa: ANN001
    client = login(beating.users["alice"])
    before = _queries(client, url)
    with tenant_scope(beating.tenant.id):
        for i in range(5):
            device = EdgeDevice.objects.create(site=beating.site, name=f"extra-{i}", health=HEARTBEAT)
            Camera.objects.create(site=beating.site, device=device, name=f"Extra {i}")
    assert _queries(client, url) == before
