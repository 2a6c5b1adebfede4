"""A camera's device is at the camera's site, on every write path (create, update, device move)."""

from __future__ import annotations

from cameras.models import Camera, EdgeDevice
from tenants.scope import tenant_scope
from tests.conftest import client_for


def camera(acme) -> Camera:  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        return Camera.objects.select_related("device").get(id=acme.camera.id)


def test_moving_a_camera_to_another_site_alone_is_refused_while_its_device_stays_behind(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    refused = alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"site": acme.other_site.id})
    assert refused.status_code == 400
    assert "another site than the camera" in refused.json()["device"][0]
    assert camera(acme).site_id == acme.site.id
    # positive controls: move it with the device cleared, or with a device of the new site
    assert alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"site": acme.other_site.id, "device": None},
                       format="json").status_code == 200
    assert (camera(acme).site_id, camera(acme).device_id) == (acme.other_site.id, None)
    with tenant_scope(acme.tenant.id):
        berlin_box = EdgeDevice.objects.create(site=acme.other_site, name="box-berlin")
    back = alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"device": berlin_box.id})
    assert back.status_code == 200 and camera(acme).device_id == berlin_box.id


def test_creating_a_camera_with_a_device_of_another_site_is_refused(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    refused = alice.post("/api/v1/cameras/", {"site": acme.other_site.id, "device": acme.device.id, "name": "Gate"})
    assert refused.status_code == 400 and "device" in refused.json()
    ok = alice.post("/api/v1/cameras/", {"site": acme.site.id, "device": acme.device.id, "name": "Gate"})
    assert ok.status_code == 201, ok.content


def test_a_device_that_serves_cameras_cannot_move_to_another_site(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    refused = alice.patch(f"/api/v1/devices/{acme.device.id}/", {"site": acme.other_site.id})
    assert refused.status_code == 400 and "Entrance" in refused.json()["site"][0]
    with tenant_scope(acme.tenant.id):
        assert EdgeDevice.objects.get(id=acme.device.id).site_id == acme.site.id
    assert alice.patch(f"/api/v1/cameras/{acme.camera.id}/", {"device": None}, format="json").status_code == 200
    moved = alice.patch(f"/api/v1/devices/{acme.device.id}/", {"site": acme.other_site.id})
    assert moved.status_code == 200, moved.content
