"""The agent fetches its cameras' bundles from the live server with device auth
(edge_agent.transport.bundles), from filesystem storage and from a real S3-compatible server
(``moto_server`` on 127.0.0.1); sha256 and size are checked against the signed config before the
file is used; a corrupted object is refused and the bundle in force stays; a kept bundle is not
downloaded again."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cameras.edgeconfig import config_public_keys, config_sign
from cameras.services import device_revoke
from detection.models import ModelArtifact
from edge_agent.models.bundle import load_bundle
from edge_agent.signedconfig import ConfigStore
from edge_agent.transport.bundles import BundleRefused, bundle_path, camera_bundles, ensure_bundle
from edge_agent.transport.device import Device
from tenants.models import Membership
from tenants.scope import tenant_scope
from tests.bundles import bundle_bytes, use_tmp_bundle_storage
from tests.cameras.test_edge_auth import enroll
from tests.conftest import client_for
from tests.servers import free_port, wait_for_port

URL = "/api/v1/model-artifacts/"


def upload(world, *, version: str, data: bytes | None = None) -> dict:  # noqa: ANN001
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(world.users["alice"]).post(
        URL, {"name": "entrance", "version": version, "cameras": [world.camera.id],
              "file": SimpleUploadedFile("b.tar.gz", data or bundle_bytes())}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def signed_refs(world, box: Device, data_dir: Path):  # noqa: ANN001, ANN201
    """The bundle references of the device's signed config, verified as the agent does."""
    store = ConfigStore(data_dir, config_public_keys(), device_id=box.device_id)
    return store.apply(config_sign(device=world.device)).config


def agent(box: Device, data_dir: Path) -> Device:
    return Device(device_id=box.device_id, cloud_url=box.cloud_url, ws_url=box.ws_url, key=box.key,
                  data_dir=data_dir)


def storage_name(world, artifact_id: int) -> str:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return ModelArtifact.objects.get(id=artifact_id).storage_name


def corrupt(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])  # same size, another sha256


# --- filesystem storage (the default) ------------------------------------------------------------
def test_the_agent_downloads_verifies_and_keeps_a_bundle_from_filesystem_storage(
        acme, live_server, settings, tmp_path):  # noqa: ANN001
    root = use_tmp_bundle_storage(settings, tmp_path / "storage")
    artifact = upload(acme, version="1")
    box = agent(enroll(acme, cloud_url=live_server.url), tmp_path / "edge")
    config = signed_refs(acme, box, tmp_path / "edge")
    paths = camera_bundles(box, config)
    path = paths[str(acme.camera.id)]
    assert path == bundle_path(box.data_dir, artifact["sha256"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact["sha256"]
    assert load_bundle(path).manifest.models[0].type == "flow"  # usable by the pipeline

    # kept: with the device revoked (every download now 401) the kept file is still returned
    with tenant_scope(acme.tenant.id):
        device_revoke(member=Membership.objects.get(user=acme.users["alice"]), device_id=acme.device.id)
    assert ensure_bundle(box, config.model_bundles[0]) == path

    # but a fresh box (nothing kept) with the revoked key is refused
    fresh = agent(box, tmp_path / "edge-2")
    with pytest.raises(BundleRefused, match="HTTP 401"):
        ensure_bundle(fresh, config.model_bundles[0])
    assert (root / storage_name(acme, artifact["id"])).is_file()


def test_a_corrupted_stored_file_is_refused_and_the_bundle_in_force_stays(acme, live_server, settings, tmp_path):  # noqa: ANN001
    root = use_tmp_bundle_storage(settings, tmp_path / "storage")
    first = upload(acme, version="1")
    box = agent(enroll(acme, cloud_url=live_server.url), tmp_path / "edge")
    store = ConfigStore(box.data_dir, config_public_keys(), device_id=box.device_id)
    in_force = ensure_bundle(box, store.apply(config_sign(device=acme.device)).config.model_bundles[0])

    second = upload(acme, version="2", data=bundle_bytes("cam-2"))  # the camera switches to version 2
    stored = root / storage_name(acme, second["id"])
    stored.write_bytes(corrupt(stored.read_bytes()))
    [ref] = store.apply(config_sign(device=acme.device)).config.model_bundles
    assert ref.id == second["id"]
    with pytest.raises(BundleRefused, match="sha256 mismatch") as refused:
        ensure_bundle(box, ref)
    assert second["sha256"] in str(refused.value)
    assert not bundle_path(box.data_dir, second["sha256"]).exists()
    assert [p.name for p in (box.data_dir / "bundles").iterdir() if p.is_file()] == []  # no temp file left
    assert hashlib.sha256(in_force.read_bytes()).hexdigest() == first["sha256"]  # still there, still good

    stored.write_bytes(stored.read_bytes() + b"more")  # longer than the signed size
    with pytest.raises(BundleRefused, match="larger than"):
        ensure_bundle(box, ref)


def test_another_tenants_device_gets_404_and_an_unassigned_bundle_is_404(acme, globex, live_server, settings,
                                                                          tmp_path):  # noqa: ANN001
    use_tmp_bundle_storage(settings, tmp_path / "storage")
    artifact = upload(acme, version="1")
    mine = agent(enroll(acme, cloud_url=live_server.url), tmp_path / "acme")
    theirs = agent(enroll(globex, cloud_url=live_server.url), tmp_path / "globex")
    ref = signed_refs(acme, mine, mine.data_dir).model_bundles[0]
    with pytest.raises(BundleRefused, match="HTTP 404"):
        ensure_bundle(theirs, ref)
    assert ensure_bundle(mine, ref).is_file()  # positive control
    client_for(acme.users["alice"]).patch(f"{URL}{artifact['id']}/", {"cameras": []}, format="json")
    with pytest.raises(BundleRefused, match="HTTP 404"):
        ensure_bundle(agent(mine, tmp_path / "acme-2"), ref)


# --- a real S3-compatible server -----------------------------------------------------------------
MOTO = Path(sys.executable).parent / "moto_server"


@pytest.fixture(scope="module")
def s3_endpoint():  # noqa: ANN201
    exe = str(MOTO) if MOTO.is_file() else shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]'); the S3 test needs a real local S3")
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def s3_client(endpoint: str):  # noqa: ANN201
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def test_a_bundle_in_real_s3_is_downloaded_verified_and_refused_once_corrupted(
        acme, live_server, settings, tmp_path, s3_endpoint):  # noqa: ANN001
    bucket = f"bundles-{os.getpid()}-{tmp_path.name}".lower()[:63].replace("_", "-")
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "bundles": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": bucket, "endpoint_url": s3_endpoint, "region_name": "us-east-1", "access_key": "test",
        "secret_key": "test", "location": "bundles", "default_acl": None}}}

    artifact = upload(acme, version="1")
    key = f"bundles/{storage_name(acme, artifact['id'])}"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bundle_bytes()  # really in S3

    box = agent(enroll(acme, cloud_url=live_server.url), tmp_path / "edge")
    ref = signed_refs(acme, box, box.data_dir).model_bundles[0]
    path = ensure_bundle(box, ref)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == artifact["sha256"] == ref.sha256
    assert load_bundle(path).manifest.models[0].name == "flow"

    s3.put_object(Bucket=bucket, Key=key, Body=corrupt(bundle_bytes()))  # behind the registry's back
    fresh = agent(box, tmp_path / "edge-2")
    with pytest.raises(BundleRefused, match="sha256 mismatch"):
        ensure_bundle(fresh, ref)
    assert not bundle_path(fresh.data_dir, ref.sha256).exists()
    assert ensure_bundle(box, ref) == path  # the verified copy stays in force

    response = client_for(acme.users["alice"]).delete(f"{URL}{artifact['id']}/")
    assert response.status_code == 204
    assert s3.list_objects_v2(Bucket=bucket, Prefix="bundles/").get("KeyCount", 0) == 0


# --- the running agent applies the bundle the signed config names ---------------------------------
def _run_with_cloud_config(world, box: Device, data_dir: Path) -> tuple[object, list]:  # noqa: ANN001
    """A real Runner driven by EdgeControl (what `vad-edge run --all` does on an enrolled box) with
    the device's signed config kept; the camera's frames come from the local simulator."""
    from edge_agent.config import AgentConfig, CameraConfig
    from edge_agent.control import EdgeControl
    from edge_agent.pipeline.runner import Runner

    store = ConfigStore(data_dir, config_public_keys(), device_id=box.device_id)
    store.apply(config_sign(device=world.device))
    local = AgentConfig(cameras=[CameraConfig(id=str(world.camera.id), source="sim:3", fps=10)])
    sent: list = []
    control = EdgeControl(store=store, local=local, data_dir=data_dir, emit=sent.append, device=box)
    runner = Runner(control.initial_agent(), sent.append)
    control.attach(runner)  # the kept config is applied on the runner's thread
    runner.run(timeout_s=4.0, heartbeat_s=1.0)
    return runner, sent


def test_the_running_agent_loads_the_bundle_the_signed_config_names(acme, live_server, settings,
                                                                      tmp_path):  # noqa: ANN001
    use_tmp_bundle_storage(settings, tmp_path / "storage")
    artifact = upload(acme, version="1")
    box = agent(enroll(acme, cloud_url=live_server.url), tmp_path / "edge")
    runner, sent = _run_with_cloud_config(acme, box, tmp_path / "edge")
    camera = runner.agent.cameras[0]  # type: ignore[attr-defined]
    assert camera.bundle == str(bundle_path(box.data_dir, artifact["sha256"]))
    assert Path(camera.bundle).is_file()
    assert not [m for m in sent if getattr(m, "status", None) == "failed"]  # positive control: it ran


def test_a_bundle_that_does_not_verify_is_never_loaded(acme, live_server, settings, tmp_path):  # noqa: ANN001
    root = use_tmp_bundle_storage(settings, tmp_path / "storage")
    artifact = upload(acme, version="1")
    stored = root / storage_name(acme, artifact["id"])
    stored.write_bytes(corrupt(stored.read_bytes()))  # the file in storage no longer matches the signature
    box = agent(enroll(acme, cloud_url=live_server.url), tmp_path / "edge")
    runner, sent = _run_with_cloud_config(acme, box, tmp_path / "edge")
    assert runner.agent.cameras == []  # type: ignore[attr-defined]
    failed = [m for m in sent if getattr(m, "status", None) == "failed"]
    assert failed and all("refused" in m.detail for m in failed)
    assert not bundle_path(box.data_dir, artifact["sha256"]).exists()
