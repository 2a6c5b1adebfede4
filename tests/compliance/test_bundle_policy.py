"""A model bundle is refused for a camera whose effective policy does not allow its capabilities."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.bundles import bundle_files, tar_gz, use_tmp_bundle_storage
from tests.compliance.test_policy_enforcement import NO_RELEASE, consent_body
from tests.conftest import client_for


@pytest.fixture(autouse=True)
def _storage(settings, tmp_path) -> None:  # noqa: ANN001
    use_tmp_bundle_storage(settings, tmp_path / "bundles")


def biometric_bundle() -> bytes:
    files = bundle_files()
    manifest = json.loads(files["manifest.json"])
    manifest["models"][0]["capabilities"] = ["motion", "biometric_identification"]
    files["manifest.json"] = json.dumps(manifest).encode()
    return tar_gz(files)


def test_a_biometric_bundle_is_refused_for_an_illinois_camera_until_a_release_is_on_file(acme):  # noqa: ANN001
    alice, carl = client_for(acme.users["alice"]), client_for(acme.users["carl"])
    uploaded = alice.post("/api/v1/model-artifacts/", {
        "name": "faces", "version": "1", "file": SimpleUploadedFile("b.tar.gz", biometric_bundle())},
        format="multipart")
    assert uploaded.status_code == 201, uploaded.content
    url = f"/api/v1/model-artifacts/{uploaded.json()['id']}/"
    refused = alice.patch(url, {"cameras": [acme.camera.id]}, format="json")
    assert refused.status_code == 400, refused.content
    assert "model bundle 'faces' uses ['biometric_identification']" in refused.json()["cameras"][0]
    assert NO_RELEASE in refused.json()["cameras"][0]
    assert carl.post("/api/v1/consents/", consent_body(acme.site.id), format="json").status_code == 201
    assert alice.patch(url, {"cameras": [acme.camera.id]}, format="json").status_code == 200
