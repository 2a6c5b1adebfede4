"""The portal's sites and compliance pages (frontend/views_sites.py) through the Django test client:
who may open them, what they show, and that another tenant's objects are a 404."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cameras.models import Camera
from compliance import verify
from compliance.audit_signing import audit_public_keys
from compliance.models import Consent, Dpia, ErasureRequest, LegalHold
from tenants.scope import tenant_scope
from tests.compliance.consent_factory import make_consent
from tests.compliance.exports_factory import make_dpia, make_hold

pytestmark = pytest.mark.django_db

COMPLIANCE_PAGES = ["/compliance/", "/compliance/consents/", "/compliance/retention/", "/compliance/dpia/",
                    "/compliance/records/", "/compliance/audit/", "/compliance/audit/export/",
                    "/compliance/erasure/"]


def portal(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def _local(dt) -> str:  # noqa: ANN001
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


# --- sites -----------------------------------------------------------------------------------
def test_site_page_shows_why_biometric_identification_is_off_with_the_law_cited(acme):  # noqa: ANN001
    response = portal(acme.users["carl"]).get(f"/sites/{acme.site.id}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "US-IL" in page
    assert 'data-testid="decision-biometric_identification"' in page
    assert "740 ILCS 14/15(b) requires a written release; none on file" in page
    assert "Biometric Information Privacy Act, 740 ILCS 14/15(b)" in page
    assert "ilga.gov/legislation" in page  # the source link
    assert "Scene reference images" in page and "not allowed" in page


def test_sites_list_names_each_site_with_its_jurisdiction_for_an_operator(acme):  # noqa: ANN001
    response = portal(acme.users["olga"]).get("/sites/")
    assert response.status_code == 200
    assert "Acme Retail HQ" in response.content.decode() and "DE" in response.content.decode()


def test_site_of_another_tenant_is_404_and_its_own_member_sees_it(acme, globex):  # noqa: ANN001
    assert portal(globex.users["mallory"]).get(f"/sites/{acme.site.id}/").status_code == 404
    assert portal(acme.users["alice"]).get(f"/sites/{acme.site.id}/").status_code == 200


def test_a_consent_on_file_turns_the_decision_to_allowed_with_consent(acme):  # noqa: ANN001
    consent = make_consent(acme)
    page = portal(acme.users["carl"]).get(f"/sites/{acme.site.id}/").content.decode()
    assert "allowed_with_consent" in page and f"#{consent.id}" in page


# --- roles -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", COMPLIANCE_PAGES)
def test_operator_is_refused_every_compliance_page_and_the_officer_opens_it(acme, path):  # noqa: ANN001
    refused = portal(acme.users["olga"]).get(path)
    assert refused.status_code == 403
    assert "your role (operator) does not allow this action" in refused.content.decode()
    assert portal(acme.users["carl"]).get(path).status_code == 200


@pytest.mark.parametrize("username", ["owen", "alice", "carl"])
def test_owner_admin_and_officer_open_the_overview(acme, username):  # noqa: ANN001
    response = portal(acme.users[username]).get("/compliance/")
    assert response.status_code == 200
    assert "No DPIA yet" in response.content.decode()


def test_signed_out_visitor_is_sent_to_login(acme):  # noqa: ANN001
    response = Client().get("/compliance/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- consents --------------------------------------------------------------------------------
def _consent_form(acme, **over):  # noqa: ANN001, ANN202
    data = {"site": acme.site.id, "capability": "biometric_identification", "kind": "written_release",
            "purpose": "staff entrance access", "signer": "Pat Example",
            "document_sha256": hashlib.sha256(b"signed form").hexdigest(),
            "signed_at": _local(timezone.now() - timedelta(days=1)), "expires_at": ""}
    return data | over


def test_officer_records_a_consent_form_and_withdraws_it(acme):  # noqa: ANN001
    client = portal(acme.users["carl"])
    response = client.post("/compliance/consents/", _consent_form(acme), follow=True)
    assert response.status_code == 200
    with tenant_scope(acme.tenant.id):
        consent = Consent.objects.get()
    assert f"Consent #{consent.id} for biometric_identification" in response.content.decode()
    response = client.post(f"/compliance/consents/{consent.id}/withdraw/", {"reason": "employee left"}, follow=True)
    assert "is withdrawn" in response.content.decode()
    with tenant_scope(acme.tenant.id):
        consent.refresh_from_db()
    assert consent.withdrawn_at is not None and consent.withdrawal_reason == "employee left"
    again = client.post(f"/compliance/consents/{consent.id}/withdraw/", {})
    assert again.status_code == 409 and "already withdrawn" in again.content.decode()


def test_consent_with_a_bad_digest_is_400_with_the_reason(acme):  # noqa: ANN001
    response = portal(acme.users["carl"]).post("/compliance/consents/", _consent_form(acme, document_sha256="z" * 64))
    assert response.status_code == 400
    assert "64 hex digits" in response.content.decode()


def test_consent_signed_in_the_future_is_400(acme):  # noqa: ANN001
    future = _local(timezone.now() + timedelta(days=3))
    response = portal(acme.users["carl"]).post("/compliance/consents/", _consent_form(acme, signed_at=future))
    assert response.status_code == 400 and "signed_at is in the future" in response.content.decode()


def test_another_tenants_consent_cannot_be_withdrawn(acme, globex):  # noqa: ANN001
    consent = make_consent(acme)
    assert portal(globex.users["mallory"]).post(f"/compliance/consents/{consent.id}/withdraw/").status_code == 404


# --- retention, holds, erasure ---------------------------------------------------------------
def test_retention_is_saved_and_a_bad_value_is_400(acme):  # noqa: ANN001
    client = portal(acme.users["carl"])
    ok = client.post("/compliance/retention/", {"form": "retention", "alert_metadata_days": 90,
                                                "scene_image_days": 30, "biometric_template_days": 5000}, follow=True)
    assert ok.status_code == 200 and "Retention periods saved" in ok.content.decode()
    assert "capped" in ok.content.decode()  # 5000 days of biometric templates > BIPA's 1095
    bad = client.post("/compliance/retention/", {"form": "retention", "alert_metadata_days": -1,
                                                 "scene_image_days": 30, "biometric_template_days": 30})
    assert bad.status_code == 400


def test_erasure_is_refused_naming_the_hold_and_executes_once_it_is_released(acme):  # noqa: ANN001
    client = portal(acme.users["carl"])
    start = timezone.now() - timedelta(days=2)
    response = client.post("/compliance/retention/", {
        "form": "hold", "target": f"camera:{acme.camera.id}", "reason": "case 42",
        "starts_at": _local(start), "ends_at": ""}, follow=True)
    assert "Legal hold #" in response.content.decode()
    with tenant_scope(acme.tenant.id):
        hold = LegalHold.objects.get()
    form = {"camera": acme.camera.id, "starts_at": _local(start), "ends_at": _local(timezone.now() + timedelta(minutes=1)),
            "basis": "gdpr_art17", "reason": "DSAR 7"}
    refused = client.post("/compliance/erasure/", form)
    assert refused.status_code == 409
    assert f"legal hold #{hold.id}" in refused.content.decode() and "case 42" in refused.content.decode()
    client.post(f"/compliance/legal-holds/{hold.id}/release/")
    done = client.post("/compliance/erasure/", form, follow=True)
    assert done.status_code == 200
    with tenant_scope(acme.tenant.id):
        erased = ErasureRequest.objects.get()
    page = done.content.decode()
    assert "proof of deletion" in page and erased.deleted_ids_sha256 in page
    assert erased.deleted_count == 1  # acme.alert


def test_another_tenants_hold_and_erasure_are_404(acme, globex):  # noqa: ANN001
    hold = make_hold(acme)
    assert portal(globex.users["mallory"]).post(f"/compliance/legal-holds/{hold.id}/release/").status_code == 404


# --- DPIA ------------------------------------------------------------------------------------
def test_officer_generates_signs_and_downloads_a_dpia(acme):  # noqa: ANN001
    client = portal(acme.users["carl"])
    response = client.post("/compliance/dpia/", follow=True)
    assert response.status_code == 200
    with tenant_scope(acme.tenant.id):
        dpia = Dpia.objects.get()
    assert "Sign as DPO" in response.content.decode()
    review = (timezone.localdate() + timedelta(days=365)).isoformat()
    signed = client.post(f"/compliance/dpia/{dpia.id}/", {"dpo_name": "Carl DPO", "dpo_opinion": "accepted",
                                                          "review_date": review}, follow=True)
    assert "is signed by Carl DPO" in signed.content.decode()
    pdf = client.get(f"/compliance/dpia/{dpia.id}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    body = json.loads(client.get(f"/compliance/dpia/{dpia.id}/json/").content)
    assert body["validation"]["dpo_name"] == "Carl DPO"


def test_sign_with_a_past_review_date_is_400_and_admin_may_not_sign(acme):  # noqa: ANN001
    dpia = make_dpia(acme)
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    bad = portal(acme.users["carl"]).post(f"/compliance/dpia/{dpia.id}/", {"dpo_name": "C", "dpo_opinion": "ok",
                                                                          "review_date": past})
    assert bad.status_code == 400 and "must be in the future" in bad.content.decode()
    future = (timezone.localdate() + timedelta(days=9)).isoformat()
    admin = portal(acme.users["alice"]).post(f"/compliance/dpia/{dpia.id}/", {"dpo_name": "A", "dpo_opinion": "ok",
                                                                             "review_date": future})
    assert admin.status_code == 403


def test_dpia_turns_stale_and_says_what_changed(acme):  # noqa: ANN001
    dpia = make_dpia(acme)
    with tenant_scope(acme.tenant.id):
        Camera.objects.create(site=acme.site, name="Back door")
    page = portal(acme.users["carl"]).get(f"/compliance/dpia/{dpia.id}/").content.decode()
    assert "STALE" in page and "Back door" in page


def test_another_tenants_dpia_is_404_for_page_and_downloads(acme, globex):  # noqa: ANN001
    dpia = make_dpia(acme)
    client = portal(globex.users["mallory"])
    for path in (f"/compliance/dpia/{dpia.id}/", f"/compliance/dpia/{dpia.id}/pdf/", f"/compliance/dpia/{dpia.id}/json/"):
        assert client.get(path).status_code == 404


# --- record of processing, audit -------------------------------------------------------------
def test_record_of_processing_downloads_as_csv_and_pdf(acme):  # noqa: ANN001
    client = portal(acme.users["carl"])
    assert "Art. 30" in client.get("/compliance/records/").content.decode()
    csv = client.get("/compliance/records/csv/")
    assert csv.status_code == 200 and csv.content.startswith(b"record,")
    assert client.get("/compliance/records/pdf/").content.startswith(b"%PDF")


def test_audit_search_filters_by_action(acme):  # noqa: ANN001
    make_dpia(acme)
    client = portal(acme.users["carl"])
    page = client.get("/compliance/audit/", {"action": "dpia."}).content.decode()
    assert "dpia.create" in page
    assert "dpia.create" not in client.get("/compliance/audit/", {"action": "auth."}).content.decode()
    assert client.get("/compliance/audit/", {"ts_from": "yesterday"}).status_code == 400


def test_audit_export_is_verified_server_side_and_the_download_verifies_offline(acme, tmp_path):  # noqa: ANN001
    make_dpia(acme)
    client = portal(acme.users["carl"])
    page = client.post("/compliance/audit/export/", {"export-format": "jsonl"}).content.decode()
    assert "chain intact" in page and "Verified:" in page
    download = client.get("/compliance/audit/export/", {"export-format": "csv"})
    assert download.status_code == 200
    path = tmp_path / "audit.csv"
    path.write_bytes(download.content)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": audit_public_keys()}))
    assert verify.verify(path, verify.load_keys(str(keys))).startswith("OK: ")


def test_audit_export_with_an_inverted_window_is_400(acme):  # noqa: ANN001
    response = portal(acme.users["carl"]).post("/compliance/audit/export/", {
        "export-format": "jsonl", "export-ts_from": "2026-02-02T10:00", "export-ts_to": "2026-02-01T10:00"})
    assert response.status_code == 400 and "later than" in response.content.decode()


def test_legal_hold_without_a_reason_is_400_and_names_the_field(acme):  # noqa: ANN001
    response = portal(acme.users["carl"]).post("/compliance/retention/", {
        "form": "hold", "target": f"site:{acme.site.id}", "reason": " ",
        "starts_at": _local(timezone.now() - timedelta(days=1)), "ends_at": ""})
    assert response.status_code == 400
    with tenant_scope(acme.tenant.id):
        assert not LegalHold.objects.exists()


def test_erasure_ending_before_it_starts_is_400(acme):  # noqa: ANN001
    now = timezone.now()
    response = portal(acme.users["carl"]).post("/compliance/erasure/", {
        "camera": acme.camera.id, "starts_at": _local(now - timedelta(hours=1)), "ends_at": _local(now - timedelta(hours=2)),
        "basis": "gdpr_art17"})
    assert response.status_code == 400 and "must be after starts_at" in response.content.decode()


def test_another_tenants_camera_cannot_be_chosen_for_erasure(acme, globex):  # noqa: ANN001
    now = timezone.now()
    response = portal(acme.users["carl"]).post("/compliance/erasure/", {
        "camera": globex.camera.id, "starts_at": _local(now - timedelta(days=1)), "ends_at": _local(now),
        "basis": "gdpr_art17"})
    assert response.status_code == 400 and "not one of the available choices" in response.content.decode()


def test_a_site_without_cameras_says_so(acme):  # noqa: ANN001
    from tenants.models import Site

    with tenant_scope(acme.tenant.id):
        empty = Site.objects.create(name="Warehouse", jurisdiction="US-TX", timezone="America/Chicago")
    page = portal(acme.users["olga"]).get(f"/sites/{empty.id}/").content.decode()
    assert "No cameras at this site yet." in page and "US-TX" in page
