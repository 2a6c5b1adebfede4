"""Erasure requests (GDPR Art. 17, BIPA destruction) by camera and time range, with a proof of
deletion; refused with 409 naming the legal hold that covers the range."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.utils import timezone

from compliance.models import AuditEntry
from tenants.scope import tenant_scope
from tests.compliance.test_retention import alert, alive
from tests.conftest import client_for


def window(days_from: float, days_to: float) -> dict[str, str]:
    now = timezone.now()
    return {"starts_at": (now - timedelta(days=days_from)).isoformat(),
            "ends_at": (now - timedelta(days=days_to)).isoformat()}


def test_erasure_deletes_the_cameras_alerts_in_the_range_with_a_proof_entry(acme):  # noqa: ANN001
    inside = sorted([alert(acme, acme.camera, 5), alert(acme, acme.camera, 6)])
    outside = alert(acme, acme.camera, 9)
    other_camera = alert(acme, acme.other_camera, 5)
    response = client_for(acme.users["carl"]).post("/api/v1/erasure-requests/", {
        "camera": acme.camera.id, **window(7, 4), "basis": "bipa_destruction", "reason": "employee left"},
        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    digest = hashlib.sha256(json.dumps(inside, separators=(",", ":")).encode()).hexdigest()
    assert (body["deleted_count"], body["deleted_ids_sha256"], body["camera_name"]) == (2, digest, "Entrance")
    assert not set(inside) & alive(acme) and {outside, other_camera} <= alive(acme)
    with tenant_scope(acme.tenant.id):
        proof = AuditEntry.objects.get(action="erasure.execute")
    assert (proof.target_type, proof.target_id) == ("compliance.erasurerequest", str(body["id"]))
    assert proof.extra["alerts_deleted"] == 2 and proof.extra["deleted_ids_sha256"] == digest
    assert proof.extra["basis"] == "bipa_destruction" and proof.actor == "carl"
    listed = client_for(acme.users["alice"]).get("/api/v1/erasure-requests/").json()["results"]
    assert [r["id"] for r in listed] == [body["id"]]


def test_a_legal_hold_refuses_the_erasure_with_409_naming_it(acme):  # noqa: ANN001
    from tests.compliance.exports_factory import make_hold

    kept = alert(acme, acme.camera, 5)
    hold = make_hold(acme, camera=None, site=acme.site, ends_at=timezone.now() - timedelta(days=2))
    response = client_for(acme.users["carl"]).post("/api/v1/erasure-requests/", {
        "camera": acme.camera.id, **window(7, 4), "basis": "gdpr_art17"}, format="json")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert f"legal hold #{hold.id}" in detail and "litigation hold, case 17" in detail and "Acme Retail HQ" in detail
    assert kept in alive(acme)
    with tenant_scope(acme.tenant.id):
        assert not AuditEntry.objects.filter(action="erasure.execute").exists()
    # a range after the hold ends is not covered
    after = client_for(acme.users["carl"]).post("/api/v1/erasure-requests/", {
        "camera": acme.camera.id, **window(1, 0.5), "basis": "gdpr_art17"}, format="json")
    assert after.status_code == 201 and after.json()["deleted_count"] == 0


def test_erasure_input_roles_and_tenants(acme, globex):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    backwards = carl.post("/api/v1/erasure-requests/", {"camera": acme.camera.id, **window(1, 2),
                                                        "basis": "gdpr_art17"}, format="json")
    assert backwards.status_code == 400 and backwards.json() == {"ends_at": ["must be after starts_at"]}
    basis = carl.post("/api/v1/erasure-requests/", {"camera": acme.camera.id, **window(2, 1), "basis": "because"},
                      format="json")
    assert basis.status_code == 400 and "basis" in basis.json()
    theirs = carl.post("/api/v1/erasure-requests/", {"camera": globex.camera.id, **window(2, 1),
                                                     "basis": "gdpr_art17"}, format="json")
    assert theirs.status_code == 404
    for user in ("olga", "vera"):
        client = client_for(acme.users[user])
        assert client.post("/api/v1/erasure-requests/", {"camera": acme.camera.id, **window(2, 1),
                                                          "basis": "gdpr_art17"}, format="json").status_code == 403
        assert client.get("/api/v1/erasure-requests/").status_code == 403
