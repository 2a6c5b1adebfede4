"""Scene reference image, cloud side: the per-site setting, the admin's request (409 unless the
site allows it), the device's signed upload (403 when not allowed, 404 for another device's camera,
413 / 400 for an oversize or non-JPEG body), the members' read; and the whole way through the
agent's capture and signed upload against a live server."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from django.test import Client

from cameras.edgeconfig import device_config
from cameras.models import Camera, EdgeDevice
from cameras.scene_images import MAX_SCENE_IMAGE_BYTES
from edge_agent.signedconfig import DeviceConfig
from edge_agent.transport.http import sign_headers
from tenants.models import Site
from tenants.scope import tenant_scope
from tests.cameras.test_edge_auth import enroll, meta
from tests.conftest import client_for


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:  # noqa: ANN001
    settings.MEDIA_ROOT = tmp_path / "media"


def jpeg(seed: int = 0) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def allow(world, value: bool = True) -> None:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        Site.objects.filter(id=world.site.id).update(scene_images_allowed=value)


def camera_row(world, camera_id: int) -> Camera:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return Camera.objects.get(id=camera_id)


def upload(box, camera_id: int, body: bytes, *, signed_body: bytes | None = None):  # noqa: ANN001, ANN201
    path = f"/edge/cameras/{camera_id}/scene-image"
    headers = sign_headers(box, "POST", "http://testserver" + path, body if signed_body is None else signed_body)
    return Client().generic("POST", path, body, content_type="image/jpeg", **meta(headers))


# --- the setting -----------------------------------------------------------------------------

def test_site_setting_is_off_by_default_visible_to_the_compliance_officer_and_set_by_an_admin(acme):  # noqa: ANN001
    url = f"/api/v1/sites/{acme.site.id}/"
    assert client_for(acme.users["carl"]).get(url).json()["scene_images_allowed"] is False
    assert client_for(acme.users["carl"]).patch(url, {"scene_images_allowed": True}, format="json").status_code == 403
    assert client_for(acme.users["alice"]).patch(url, {"scene_images_allowed": True}, format="json").status_code == 200
    assert client_for(acme.users["carl"]).get(url).json()["scene_images_allowed"] is True


# --- the request -----------------------------------------------------------------------------

def test_request_is_409_with_the_reason_while_the_site_does_not_allow_it(acme):  # noqa: ANN001
    response = client_for(acme.users["alice"]).post(f"/api/v1/cameras/{acme.camera.id}/scene-image/request/")
    assert response.status_code == 409
    assert "does not allow scene images" in response.json()["detail"]
    assert camera_row(acme, acme.camera.id).scene_image_requested_at is None


def test_request_stamps_the_camera_and_the_signed_config_carries_it(acme):  # noqa: ANN001
    allow(acme)
    response = client_for(acme.users["alice"]).post(f"/api/v1/cameras/{acme.camera.id}/scene-image/request/")
    assert response.status_code == 202
    assert response.json()["scene_image_requested_at"] is not None
    config = DeviceConfig.model_validate(device_config(device=EdgeDevice.unscoped_objects.get(id=acme.device.id)))
    assert config.site.scene_images_allowed is True
    [camera] = [c for c in config.cameras if c.id == str(acme.camera.id)]
    assert camera.scene_image_requested_at == camera_row(acme, acme.camera.id).scene_image_requested_at.timestamp()


def test_request_needs_an_admin_and_a_camera_with_a_device(acme):  # noqa: ANN001
    allow(acme)
    for viewer in ("vera", "olga", "carl"):
        response = client_for(acme.users[viewer]).post(f"/api/v1/cameras/{acme.camera.id}/scene-image/request/")
        assert response.status_code == 403, viewer
    with tenant_scope(acme.tenant.id):
        lonely = Camera.objects.create(site=acme.site, name="No box")
    response = client_for(acme.users["alice"]).post(f"/api/v1/cameras/{lonely.id}/scene-image/request/")
    assert response.status_code == 409 and "no edge device" in response.json()["detail"]


def test_other_tenant_cannot_request_or_read_a_scene_image(acme, globex):  # noqa: ANN001
    allow(acme)
    mallory = client_for(globex.users["mallory"])
    assert mallory.post(f"/api/v1/cameras/{acme.camera.id}/scene-image/request/").status_code == 404
    assert mallory.get(f"/api/v1/cameras/{acme.camera.id}/scene-image/").status_code == 404
    assert client_for(acme.users["alice"]).post(
        f"/api/v1/cameras/{acme.camera.id}/scene-image/request/").status_code == 202


# --- the upload ------------------------------------------------------------------------------

def test_device_upload_is_stored_served_to_members_and_clears_the_request(acme):  # noqa: ANN001
    box = enroll(acme)
    allow(acme)
    client_for(acme.users["alice"]).post(f"/api/v1/cameras/{acme.camera.id}/scene-image/request/")
    assert client_for(acme.users["vera"]).get(f"/api/v1/cameras/{acme.camera.id}/scene-image/").status_code == 404
    body = jpeg()
    response = upload(box, acme.camera.id, body)
    assert response.status_code == 201, response.content
    assert response.json()["bytes"] == len(body)
    row = camera_row(acme, acme.camera.id)
    assert row.scene_image and row.scene_image_at is not None and row.scene_image_requested_at is None
    for member in ("vera", "olga", "carl"):
        got = client_for(acme.users[member]).get(f"/api/v1/cameras/{acme.camera.id}/scene-image/")
        assert (got.status_code, got["Content-Type"], got.content) == (200, "image/jpeg", body)
    assert client_for(acme.users["vera"]).get(f"/api/v1/cameras/{acme.camera.id}/").json()["has_scene_image"]
    second = jpeg(1)
    assert upload(box, acme.camera.id, second).status_code == 201  # replaces the first
    assert client_for(acme.users["vera"]).get(f"/api/v1/cameras/{acme.camera.id}/scene-image/").content == second


def test_upload_is_refused_403_with_the_reason_when_the_site_does_not_allow_it(acme):  # noqa: ANN001
    box = enroll(acme)
    response = upload(box, acme.camera.id, jpeg())
    assert response.status_code == 403
    assert "does not allow scene images" in response.json()["detail"]
    assert not camera_row(acme, acme.camera.id).scene_image
    allow(acme)
    assert upload(box, acme.camera.id, jpeg()).status_code == 201  # the positive control


def test_upload_for_a_camera_that_is_not_the_devices_is_404(acme, globex):  # noqa: ANN001
    box = enroll(acme)
    allow(acme)
    allow(globex)
    for camera_id in (acme.other_camera.id, globex.camera.id, 10**9):
        response = upload(box, camera_id, jpeg())
        assert response.status_code == 404, camera_id
    assert not camera_row(globex, globex.camera.id).scene_image


def test_upload_must_be_a_signed_jpeg_under_the_cap(acme):  # noqa: ANN001
    box = enroll(acme)
    allow(acme)
    path = f"/edge/cameras/{acme.camera.id}/scene-image"
    assert Client().post(path, jpeg(), content_type="image/jpeg").status_code == 401  # unsigned
    response = upload(box, acme.camera.id, jpeg(), signed_body=jpeg(1))  # signature over another body
    assert response.status_code == 401
    response = upload(box, acme.camera.id, b"GIF89a" + b"\0" * 100)
    assert response.status_code == 400 and "not a JPEG" in response.json()["detail"]
    response = upload(box, acme.camera.id, b"\xff\xd8\xff" + b"\0" * 100)  # a JPEG header, no image
    assert response.status_code == 400
    assert upload(box, acme.camera.id, b"").status_code == 400
    response = upload(box, acme.camera.id, b"\xff\xd8\xff" + b"\0" * MAX_SCENE_IMAGE_BYTES)
    assert response.status_code == 413 and str(MAX_SCENE_IMAGE_BYTES) in response.json()["detail"]
    assert Client().get(path).status_code == 405
    assert not camera_row(acme, acme.camera.id).scene_image


# --- all the way: request -> signed config -> agent capture -> signed upload -> read ----------

@pytest.mark.django_db(transaction=True)
def test_agent_captures_and_uploads_the_requested_scene_image_to_the_live_server(acme, live_server):  # noqa: ANN001
    from types import SimpleNamespace

    from edge_agent.cli import _scene_images

    box = enroll(acme, cloud_url=live_server.url)
    allow(acme)
    assert client_for(acme.users["alice"]).post(
        f"/api/v1/cameras/{acme.camera.id}/scene-image/request/").status_code == 202
    config = DeviceConfig.model_validate(device_config(device=EdgeDevice.unscoped_objects.get(id=acme.device.id)))
    sink = SimpleNamespace(sender=SimpleNamespace(device=box), config=SimpleNamespace(current=config))
    tap = _scene_images(sink)
    tap.span_s, tap.samples = 2.0, 4
    scene = np.full((60, 80, 3), 90, np.uint8)
    for i in range(30):
        frame = scene.copy()
        frame[20:30, i * 2:i * 2 + 10] = 255  # a passer-by
        tap(str(acme.camera.id), frame, i * 0.1)
    capture = tap.captures[str(acme.camera.id)]
    capture.worker.join(timeout=30)
    assert capture.uploads == 1
    got = client_for(acme.users["vera"]).get(f"/api/v1/cameras/{acme.camera.id}/scene-image/")
    assert got.status_code == 200
    image = cv2.imdecode(np.frombuffer(got.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (60, 80, 3) and np.abs(image.astype(int) - 90).max() <= 3  # the passer-by is gone
    assert camera_row(acme, acme.camera.id).scene_image_requested_at is None


def test_alert_detail_links_the_cameras_scene_image_once_there_is_one(acme):  # noqa: ANN001
    url = f"/api/v1/alerts/{acme.alert.id}/"
    assert client_for(acme.users["olga"]).get(url).json()["scene_image"] is None
    allow(acme)
    assert upload(enroll(acme), acme.camera.id, jpeg()).status_code == 201
    link = client_for(acme.users["olga"]).get(url).json()["scene_image"]
    assert link == f"/api/v1/cameras/{acme.camera.id}/scene-image/"
    assert client_for(acme.users["olga"]).get(link).status_code == 200


def test_a_kept_image_is_no_longer_served_once_the_site_turns_the_setting_off(acme):  # noqa: ANN001
    allow(acme)
    assert upload(enroll(acme), acme.camera.id, jpeg()).status_code == 201
    url = f"/api/v1/cameras/{acme.camera.id}/scene-image/"
    assert client_for(acme.users["vera"]).get(url).status_code == 200
    allow(acme, False)
    response = client_for(acme.users["vera"]).get(url)
    assert response.status_code == 409 and "no longer allows" in response.json()["detail"]
