"""/api/v1/model-artifacts/: upload (owner/admin), list/retrieve (members), assign to cameras,
delete; bad bundles are a 400 naming the problem, too large a 413; another tenant's is a 404; the
signed device config carries the bundle reference."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cameras.edgeconfig import config_sign
from edge_agent.signedconfig import DeviceConfig
from tests.bundles import bundle_bytes, bundle_files, tar_gz, use_tmp_bundle_storage
from tests.conftest import client_for

URL = "/api/v1/model-artifacts/"


@pytest.fixture(autouse=True)
def storage_dir(settings, tmp_path):  # noqa: ANN001, ANN201
    return use_tmp_bundle_storage(settings, tmp_path / "bundles")


def upload(user, data: bytes | None = None, **fields):  # noqa: ANN001, ANN003, ANN201
    body = {"name": "entrance-flow", "version": "1", **fields,
            "file": SimpleUploadedFile("bundle.tar.gz", bundle_bytes() if data is None else data)}
    return client_for(user).post(URL, body, format="multipart")


def stored_files(root) -> list:  # noqa: ANN001
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_an_admin_uploads_a_bundle_and_gets_its_sha256_size_and_capabilities(acme, storage_dir):  # noqa: ANN001
    response = upload(acme.users["alice"])
    assert response.status_code == 201, response.content
    body = response.json()
    data = bundle_bytes()
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert body["capabilities"] == ["motion"] and body["models"][0]["type"] == "flow"
    assert body["created_by"] == "alice" and body["cameras"] == []
    [stored] = stored_files(storage_dir)
    assert stored.read_bytes() == data and stored.parent.name == str(acme.tenant.id)


def test_the_version_defaults_to_the_manifests_creation_time(acme):  # noqa: ANN001
    response = client_for(acme.users["alice"]).post(
        URL, {"name": "x", "file": SimpleUploadedFile("b.tar.gz", bundle_bytes())}, format="multipart")
    assert response.status_code == 201
    assert response.json()["version"] == json.loads(bundle_files()["manifest.json"])["created"]


@pytest.mark.parametrize("who", ["olga", "carl", "vera"])
def test_an_operator_compliance_officer_or_viewer_may_not_upload(acme, storage_dir, who):  # noqa: ANN001
    response = upload(acme.users[who])
    assert response.status_code == 403, response.content
    assert stored_files(storage_dir) == []
    assert upload(acme.users["owen"]).status_code == 201  # positive control: the owner may


def test_members_list_and_retrieve_but_another_tenant_gets_404(acme, globex):  # noqa: ANN001
    artifact_id = upload(acme.users["alice"]).json()["id"]
    vera = client_for(acme.users["vera"])
    assert [a["id"] for a in vera.get(URL).json()["results"]] == [artifact_id]
    assert vera.get(f"{URL}{artifact_id}/").status_code == 200
    mallory = client_for(globex.users["mallory"])
    assert mallory.get(f"{URL}{artifact_id}/").status_code == 404
    assert mallory.delete(f"{URL}{artifact_id}/").status_code == 404
    assert mallory.patch(f"{URL}{artifact_id}/", {"cameras": []}, format="json").status_code == 404
    assert mallory.get(URL).json()["results"] == []


def test_the_same_name_and_version_twice_is_a_409(acme, storage_dir):  # noqa: ANN001
    assert upload(acme.users["alice"]).status_code == 201
    again = upload(acme.users["alice"])
    assert again.status_code == 409 and "exists" in json.dumps(again.json())
    assert len(stored_files(storage_dir)) == 1
    assert upload(acme.users["alice"], version="2").status_code == 201


def _tampered() -> bytes:
    files = bundle_files()
    weights = next(name for name in files if name.startswith("models/") and name != "models/flow")
    files[weights] = files[weights][:-1] + bytes([files[weights][-1] ^ 1])  # same size, other bytes
    return tar_gz(files)


def _manifest(change) -> bytes:  # noqa: ANN001
    files = bundle_files()
    manifest = json.loads(files["manifest.json"])
    change(manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    return tar_gz(files)


@pytest.mark.parametrize(("data", "message"), [
    (b"this is not a tarball at all", "not a model bundle"),
    (tar_gz({"README.txt": b"hello"}), "no manifest.json"),
    (tar_gz({"manifest.json": b"{not json"}), "manifest.json is invalid"),
    (_manifest(lambda m: m.update(format="something-else")), "manifest.json is invalid at format"),
    (_manifest(lambda m: m.update(models=[])), "lists no models"),
    (_manifest(lambda m: m["models"][0]["capabilities"].append("mind_reading")), "invalid at models.0.capabilities"),
    (_tampered(), "sha256 mismatch"),
    (tar_gz({**bundle_files(), "models/flow/extra.bin": b"x"}), "not listed in manifest.json"),
    (tar_gz({**bundle_files(), "../evil": b"x"}), "outside the bundle"),
], ids=["not-tar", "no-manifest", "manifest-not-json", "wrong-format", "no-models", "unknown-capability",
        "tampered-file", "unlisted-file", "path-traversal"])
def test_a_bad_bundle_is_a_400_naming_the_problem(acme, storage_dir, data, message):  # noqa: ANN001
    response = upload(acme.users["alice"], data)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["file"]), response.json()
    assert stored_files(storage_dir) == []


def test_a_tampered_file_names_the_file_and_both_digests(acme):  # noqa: ANN001
    detail = " ".join(upload(acme.users["alice"], _tampered()).json()["file"])
    manifest = json.loads(bundle_files()["manifest.json"])
    listed = manifest["models"][0]["files"][0]
    assert f"sha256 mismatch for {listed['path']}" in detail and listed["sha256"] in detail


def test_a_bundle_over_the_cap_is_a_413_and_nothing_is_stored(acme, settings, storage_dir):  # noqa: ANN001
    settings.MODEL_BUNDLE_MAX_BYTES = len(bundle_bytes()) - 1
    response = upload(acme.users["alice"])
    assert response.status_code == 413 and "MODEL_BUNDLE_MAX_BYTES" in response.json()["detail"]
    settings.MODEL_BUNDLE_MAX_BYTES = 10  # far beyond: refused from Content-Length, before parsing
    big = client_for(acme.users["alice"]).post(
        URL, {"name": "x", "file": SimpleUploadedFile("b.tar.gz", b"\0" * 200_000)}, format="multipart")
    assert big.status_code == 413
    assert stored_files(storage_dir) == []


def test_a_missing_file_or_name_is_a_field_error(acme):  # noqa: ANN001
    client = client_for(acme.users["alice"])
    response = client.post(URL, {"name": "x"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    response = client.post(URL, {"file": io.BytesIO(bundle_bytes())}, format="multipart")
    assert response.status_code == 400 and "name" in response.json()


def test_an_admin_deletes_a_bundle_and_its_file_but_an_operator_may_not(
        acme, storage_dir, django_capture_on_commit_callbacks):  # noqa: ANN001
    artifact_id = upload(acme.users["alice"]).json()["id"]
    assert client_for(acme.users["olga"]).delete(f"{URL}{artifact_id}/").status_code == 403
    assert len(stored_files(storage_dir)) == 1
    with django_capture_on_commit_callbacks(execute=True):  # the file goes after the commit
        assert client_for(acme.users["alice"]).delete(f"{URL}{artifact_id}/").status_code == 204
    assert stored_files(storage_dir) == []
    assert client_for(acme.users["alice"]).get(f"{URL}{artifact_id}/").status_code == 404


def test_assigned_cameras_put_the_bundle_into_the_signed_device_config(acme, globex):  # noqa: ANN001
    artifact = upload(acme.users["alice"], cameras=[acme.camera.id]).json()
    assert artifact["cameras"] == [acme.camera.id]
    push = config_sign(device=acme.device)
    config = DeviceConfig.model_validate_json(push.payload)  # what the agent accepts
    [ref] = config.model_bundles
    assert (ref.id, ref.sha256, ref.size, ref.cameras) == (artifact["id"], artifact["sha256"], artifact["size"],
                                                          [str(acme.camera.id)])
    assert ref.url == f"/edge/bundles/{artifact['id']}/" and ref.capabilities == ["motion"]

    client = client_for(acme.users["alice"])
    assert client.patch(f"{URL}{artifact['id']}/", {"cameras": [globex.camera.id]}, format="json").status_code == 400
    assert client.patch(f"{URL}{artifact['id']}/", {"cameras": ["x"]}, format="json").status_code == 400
    assert client_for(acme.users["olga"]).patch(f"{URL}{artifact['id']}/", {"cameras": []},
                                                format="json").status_code == 403
    cleared = client.patch(f"{URL}{artifact['id']}/", {"cameras": []}, format="json")
    assert cleared.status_code == 200 and cleared.json()["cameras"] == []
    assert DeviceConfig.model_validate_json(config_sign(device=acme.device).payload).model_bundles == []
    assert config_sign(device=acme.device).version > push.version


def test_uploading_a_camera_of_another_tenant_is_a_field_error_and_stores_nothing(acme, globex, storage_dir):  # noqa: ANN001
    response = upload(acme.users["alice"], cameras=[globex.camera.id])
    assert response.status_code == 400 and "cameras" in response.json()
    assert stored_files(storage_dir) == []


def test_the_list_query_count_is_pinned(acme, django_assert_num_queries):  # noqa: ANN001
    client = client_for(acme.users["alice"])
    upload(acme.users["alice"], cameras=[acme.camera.id])
    # savepoint pair + membership + count + rows (with created_by) + assignments
    with django_assert_num_queries(6):
        assert client.get(URL).status_code == 200
    for version in ("2", "3", "4"):
        upload(acme.users["alice"], version=version, cameras=[acme.camera.id])
    with django_assert_num_queries(6):
        assert len(client.get(URL).json()["results"]) == 4


def test_a_truncated_or_bit_flipped_archive_is_a_400_never_a_500(acme, storage_dir):  # noqa: ANN001
    data = bundle_bytes()
    broken = [data[:n] for n in (10, len(data) // 3, len(data) // 2, len(data) - 9)]
    start = data.index(b"\0", 10) + 1  # past the gzip header's file name (no checksum covers it)
    broken += [data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1:] for i in range(start, len(data), 37)]
    for case in broken:
        response = upload(acme.users["alice"], case)
        assert response.status_code == 400, (len(case), response.content[:200])
        assert response.json()["file"], response.json()
    assert stored_files(storage_dir) == []
    assert upload(acme.users["alice"]).status_code == 201  # positive control
