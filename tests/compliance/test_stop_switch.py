"""Human oversight (AI Act Art. 14): an admin stops a camera or one of its models at once; it leaves
the signed device config and comes back on resume."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from tests.cameras.test_edge_config import DeviceGroups, config_event
from tests.compliance.test_policy_enforcement import signed_config
from tests.conftest import client_for


def test_a_stopped_camera_leaves_the_device_config_and_returns_on_resume(acme, tmp_path):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    assert [c.name for c in signed_config(acme, tmp_path).cameras] == ["Entrance"]
    stopped = alice.post(f"/api/v1/cameras/{acme.camera.id}/stop/", {}, format="json")
    assert stopped.status_code == 200 and stopped.json()["stopped_at"]
    assert signed_config(acme, tmp_path).cameras == []
    assert client_for(acme.users["carl"]).get(f"/api/v1/cameras/{acme.camera.id}/policy/").json()["stopped"] is True
    resumed = alice.post(f"/api/v1/cameras/{acme.camera.id}/resume/", {}, format="json")
    assert resumed.status_code == 200 and resumed.json()["stopped_at"] is None
    assert [c.name for c in signed_config(acme, tmp_path).cameras] == ["Entrance"]


def test_stopping_one_model_removes_only_that_model(acme, tmp_path):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    url = f"/api/v1/cameras/{acme.camera.id}"
    assert alice.patch(f"{url}/", {"models": [{"type": "flow"}, {"type": "face_haar", "name": "blur"}]},
                       format="json").status_code == 200
    response = alice.post(f"{url}/stop/", {"model": "blur"}, format="json")
    assert response.status_code == 200 and response.json()["stopped_models"] == ["blur"]
    camera = signed_config(acme, tmp_path).cameras[0]
    assert [m.model_name for m in camera.models] == ["flow"]
    unknown = alice.post(f"{url}/stop/", {"model": "nope"}, format="json")
    assert unknown.status_code == 400 and "runs no model 'nope'" in unknown.json()["model"][0]
    assert alice.post(f"{url}/resume/", {"model": "flow"}, format="json").status_code == 400  # not stopped
    assert alice.post(f"{url}/resume/", {"model": "blur"}, format="json").status_code == 200
    assert [m.model_name for m in signed_config(acme, tmp_path).cameras[0].models] == ["flow", "blur"]


def test_a_default_model_set_can_be_stopped_model_by_model(acme, tmp_path):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    assert alice.post(f"/api/v1/cameras/{acme.camera.id}/stop/", {"model": "flow"}, format="json").status_code == 200
    camera = signed_config(acme, tmp_path).cameras[0]
    assert [m.model_name for m in camera.models] == ["objects", "autoencoder", "appearance"]  # indoor default minus flow


@pytest.mark.parametrize("who", ["olga", "carl", "vera"])
def test_only_admins_and_owners_may_stop(acme, who):  # noqa: ANN001
    response = client_for(acme.users[who]).post(f"/api/v1/cameras/{acme.camera.id}/stop/", {}, format="json")
    assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_stop_pushes_the_device_at_once(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])

    async def run() -> list:
        groups = DeviceGroups()
        await groups.join(acme.device.id)
        await sync_to_async(alice.post)(f"/api/v1/cameras/{acme.camera.id}/stop/", {}, format="json")
        return await groups.drain(acme.device.id)

    assert async_to_sync(run)() == [config_event(acme.device.id)]
