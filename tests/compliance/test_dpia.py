"""DPIA: generated from the live configuration, signed by the DPO, stale (with what changed) after
a configuration change, exported as JSON and as a PDF that renders."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from compliance.models import AuditEntry
from tenants.scope import tenant_scope
from tests.conftest import client_for

REVIEW = (timezone.localdate() + timedelta(days=365)).isoformat()
SIGN = {"dpo_name": "Carl Compliance", "dpo_opinion": "Residual risk acceptable; review masks yearly.",
        "review_date": REVIEW}


def create(acme, user: str = "carl") -> dict:  # noqa: ANN001
    response = client_for(acme.users[user]).post("/api/v1/dpias/", {}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_dpia_covers_art_35_7_a_to_d_from_the_live_configuration(acme):  # noqa: ANN001
    made = create(acme)
    assert made["version"] == 1 and made["status"] == "draft" and made["stale"] is False
    response = client_for(acme.users["carl"]).get(f"/api/v1/dpias/{made['id']}/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="dpia-v1.json"'
    doc = response.json()
    assert doc["art35_7"] == {"a": "context", "b": "necessity_proportionality", "c": "risks", "d": "measures"}
    for section in ("need", "context", "consultation", "necessity_proportionality", "risks", "measures", "validation"):
        assert doc[section], section
    ctx = doc["context"]
    assert {s["name"]: s["jurisdiction"] for s in ctx["sites"]} == {"Acme Retail HQ": "US-IL", "Acme Retail Berlin": "DE"}
    hq = next(s for s in ctx["sites"] if s["jurisdiction"] == "US-IL")
    entrance = next(c for c in hq["cameras"] if c["name"] == "Entrance")
    assert "security" in entrance["purpose"] and entrance["models"]
    assert all("capabilities" in m for m in entrance["models"])
    assert "biometric_identification" in entrance["forbidden_capabilities"]  # no release on file in Illinois
    assert any("only metadata leaves the site" in f.lower() for f in ctx["data_flows"])
    assert ctx["recipients"] and set(ctx["retention"]) == {"alert_metadata", "scene_images", "biometric_templates"}
    assert ctx["controller"]["dpo"] == ["carl <carl@example.com>"]
    # risks per jurisdiction, each rated likelihood x severity, with the deciding clause
    by_set = {r.get("rule_set") for r in doc["risks"]}
    assert {"EU-EEA", "US-IL"} <= by_set
    for risk in doc["risks"]:
        assert 1 <= risk["likelihood"] <= 4 and 1 <= risk["severity"] <= 4
        assert risk["score"] == risk["likelihood"] * risk["severity"] and risk["level"] in ("low", "medium", "high")
    assert any(r["clause"] == "AI Act Art. 5(1)(f)" for r in doc["risks"])
    assert any("740 ILCS 14/15" in r["clause"] for r in doc["risks"])
    measures = {m["measure"] for m in doc["measures"]}
    assert {"Privacy masks", "Blurring", "Biometric gating", "Encryption", "Access control", "Audit"} <= measures
    assert doc["validation"]["status"] == "draft: not signed" and doc["stale"] is False
    with tenant_scope(acme.tenant.id):
        assert AuditEntry.objects.filter(action="dpia.export", target_id=str(made["id"])).count() == 1
        assert AuditEntry.objects.filter(action="dpia.create").count() == 1


def test_signed_dpia_goes_stale_after_a_camera_change_and_says_what_changed(acme):  # noqa: ANN001
    made = create(acme)
    carl = client_for(acme.users["carl"])
    signed = carl.post(f"/api/v1/dpias/{made['id']}/sign/", SIGN, format="json")
    assert signed.status_code == 200, signed.content
    body = signed.json()
    assert (body["status"], body["signed_by_name"], body["review_date"], body["stale"]) == (
        "signed", "Carl Compliance", REVIEW, False)
    assert body["content"]["validation"]["dpo_opinion"] == SIGN["dpo_opinion"]

    changed = client_for(acme.users["alice"]).patch(f"/api/v1/cameras/{acme.camera.id}/", {"enabled": False},
                                                    format="json")
    assert changed.status_code == 200
    detail = carl.get(f"/api/v1/dpias/{made['id']}/").json()
    assert detail["stale"] is True and detail["status"] == "signed"
    assert {"section": "cameras", "item": "Entrance", "field": "enabled", "change": "changed",
            "before": True, "after": False} in detail["changes"]
    listed = carl.get("/api/v1/dpias/").json()["results"]
    assert [(d["version"], d["stale"]) for d in listed] == [(1, True)]
    # a new version describes the new configuration and is not stale
    again = create(acme)
    assert again["version"] == 2 and again["stale"] is False
    second = carl.post(f"/api/v1/dpias/{made['id']}/sign/", SIGN, format="json")
    assert second.status_code == 409 and "already signed" in second.json()["detail"]


def test_a_site_change_is_named_in_the_changes(acme):  # noqa: ANN001
    made = create(acme)
    client_for(acme.users["alice"]).patch(f"/api/v1/sites/{acme.other_site.id}/", {"jurisdiction": "FR"},
                                          format="json")
    detail = client_for(acme.users["carl"]).get(f"/api/v1/dpias/{made['id']}/").json()
    row = next(c for c in detail["changes"] if c["section"] == "sites")
    assert (row["item"], row["field"], row["before"], row["after"]) == ("Acme Retail Berlin", "jurisdiction", "DE", "FR")


def test_signing_a_stale_version_is_refused_with_what_changed(acme):  # noqa: ANN001
    made = create(acme)
    client_for(acme.users["alice"]).patch(f"/api/v1/cameras/{acme.camera.id}/", {"enabled": False}, format="json")
    response = client_for(acme.users["carl"]).post(f"/api/v1/dpias/{made['id']}/sign/", SIGN, format="json")
    assert response.status_code == 409
    assert "no longer matches the live configuration" in response.json()["detail"]
    assert "cameras Entrance: enabled" in response.json()["detail"]


def test_sign_off_input_is_checked(acme):  # noqa: ANN001
    made = create(acme)
    carl = client_for(acme.users["carl"])
    past = carl.post(f"/api/v1/dpias/{made['id']}/sign/", {**SIGN, "review_date": "2020-01-01"}, format="json")
    assert past.status_code == 400 and "must be in the future" in past.json()["review_date"][0]
    blank = carl.post(f"/api/v1/dpias/{made['id']}/sign/", {**SIGN, "dpo_name": "  "}, format="json")
    assert blank.status_code == 400 and "dpo_name" in blank.json()


@pytest.mark.parametrize(("user", "create_status", "sign_status"), [
    ("owen", 201, 200), ("alice", 201, 403), ("carl", 201, 200), ("olga", 403, 403), ("vera", 403, 403),
])
def test_who_may_create_and_sign(acme, user, create_status, sign_status):  # noqa: ANN001
    made = create(acme)
    client = client_for(acme.users[user])
    assert client.post("/api/v1/dpias/", {}, format="json").status_code == create_status
    assert client.get("/api/v1/dpias/").status_code == (200 if create_status == 201 else 403)
    assert client.post(f"/api/v1/dpias/{made['id']}/sign/", SIGN, format="json").status_code == sign_status


def test_another_tenants_dpia_is_404(acme, globex):  # noqa: ANN001
    made = create(acme)
    mallory = client_for(globex.users["mallory"])
    for url in (f"/api/v1/dpias/{made['id']}/", f"/api/v1/dpias/{made['id']}/pdf", f"/api/v1/dpias/{made['id']}/json"):
        assert mallory.get(url).status_code == 404, url
    assert mallory.get("/api/v1/dpias/").json()["results"] == []


def page_one_png(pdf: bytes, tmp_path) -> Image.Image:  # noqa: ANN001
    """Page 1 of ``pdf`` rendered by poppler's pdftoppm."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: cannot render the PDF to check it is not blank")
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
                   check=True, timeout=60)
    (png,) = sorted(tmp_path.glob("page*.png"))
    return Image.open(io.BytesIO(png.read_bytes())).convert("L")


def ink(image: Image.Image) -> float:
    """Share of pixels that are not (near) white."""
    histogram = image.histogram()
    return sum(histogram[:200]) / (image.width * image.height)


def test_dpia_pdf_renders_a_page_that_is_not_blank(acme, tmp_path):  # noqa: ANN001
    made = create(acme)
    client_for(acme.users["carl"]).post(f"/api/v1/dpias/{made['id']}/sign/", SIGN, format="json")
    response = client_for(acme.users["carl"]).get(f"/api/v1/dpias/{made['id']}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    page = page_one_png(response.content, tmp_path)
    assert page.width > 300 and page.height > 400
    assert ink(page) > 0.01, "page 1 of the DPIA PDF is blank"


def test_a_consent_on_file_changes_a_policy_decision_and_makes_the_dpia_stale(acme):  # noqa: ANN001
    from tests.compliance.consent_factory import make_consent

    made = create(acme)
    make_consent(acme)  # a written release for biometric identification at the Illinois site
    detail = client_for(acme.users["carl"]).get(f"/api/v1/dpias/{made['id']}/").json()
    assert detail["stale"] is True
    changes = {c["field"]: c for c in detail["changes"] if c["item"] == "Entrance"}
    status = changes["policy.decisions.biometric_identification.status"]
    assert (status["before"], status["after"]) == ("disabled", "allowed_with_consent")
    assert "740 ILCS 14/15(b)" in changes["policy.decisions.biometric_identification.trace"]["before"]
    forbidden = changes["policy.forbidden_capabilities"]
    assert set(forbidden["before"]) - set(forbidden["after"]) == {"biometric_identification"}
