"""Record of processing (GDPR Art. 30): CSV with (1)(a)-(g) per activity and (2)(a)-(d), a PDF
that renders, export jobs with progress and a download, roles and tenant isolation."""

from __future__ import annotations

import csv
import io

import pytest

from compliance.models import AuditEntry, ExportJob
from tenants.scope import tenant_scope
from tests.compliance.exports_factory import use_tmp_export_storage
from tests.compliance.test_dpia import ink, page_one_png
from tests.conftest import client_for

CONTROLLER = [f"Art. 30(1)({c})" for c in "abcdefg"]
PROCESSOR = [f"Art. 30(2)({c})" for c in "abcd"]


@pytest.fixture(autouse=True)
def _export_storage(settings, tmp_path) -> None:  # noqa: ANN001
    use_tmp_export_storage(settings, tmp_path / "exports")


def rows_of(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def test_csv_has_the_controller_fields_a_to_g_per_site_and_the_processor_record(acme):  # noqa: ANN001
    response = client_for(acme.users["carl"]).get("/api/v1/records-of-processing/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="records-of-processing-')
    rows = rows_of(response.content)
    assert list(rows[0]) == ["record", "activity", "clause", "heading", "value"]
    controller = [r for r in rows if r["record"] == "controller"]
    activities = {r["activity"] for r in controller}
    assert len(activities) == 2 and any("Acme Retail HQ" in a and "US-IL" in a for a in activities)
    for activity in activities:
        assert [r["clause"] for r in controller if r["activity"] == activity] == CONTROLLER
    assert all(r["value"].strip() for r in rows)
    assert [r["clause"] for r in rows if r["record"] == "processor"] == PROCESSOR
    first = {r["clause"]: r["value"] for r in controller if "HQ" in r["activity"]}
    assert "Acme Retail" in first["Art. 30(1)(a)"] and "carl@example.com" in first["Art. 30(1)(a)"]
    assert "alert metadata: 90 days" in first["Art. 30(1)(f)"]
    assert "scene images: 3 days" in first["Art. 30(1)(f)"]  # the EU site's EDPB ceiling caps the tenant
    with tenant_scope(acme.tenant.id):
        entry = AuditEntry.objects.get(action="records_of_processing.export")
        assert entry.extra["format"] == "csv" and entry.extra["size"] == len(response.content)


def test_an_eu_site_hosted_in_the_us_names_the_transfer_and_its_safeguards(acme):  # noqa: ANN001
    acme.tenant.data_region = "us"
    acme.tenant.save()
    rows = rows_of(client_for(acme.users["carl"]).get("/api/v1/records-of-processing/").content)
    transfer = {r["activity"]: r["value"] for r in rows if r["clause"] == "Art. 30(1)(e)"}
    berlin = next(v for a, v in transfer.items() if "Berlin" in a)
    assert "third country" in berlin and "Art. 46(2)(c)" in berlin
    assert next(v for a, v in transfer.items() if "HQ" in a).startswith("None")


def test_pdf_renders_a_page_that_is_not_blank(acme, tmp_path):  # noqa: ANN001
    response = client_for(acme.users["alice"]).get("/api/v1/records-of-processing/", {"format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert ink(page_one_png(response.content, tmp_path)) > 0.01


def test_unknown_format_is_a_400_naming_the_valid_ones(acme):  # noqa: ANN001
    response = client_for(acme.users["carl"]).get("/api/v1/records-of-processing/", {"format": "xml"})
    assert response.status_code == 400
    assert response.json() == {"format": ["unknown format 'xml'; use 'csv' or 'pdf'"]}


def test_operators_and_viewers_get_403(acme):  # noqa: ANN001
    for user in ("olga", "vera"):
        assert client_for(acme.users[user]).get("/api/v1/records-of-processing/").status_code == 403


def test_another_tenant_sees_only_its_own_record(acme, globex):  # noqa: ANN001
    rows = rows_of(client_for(globex.users["mallory"]).get("/api/v1/records-of-processing/").content)
    assert rows and not any("Acme" in r["value"] or "Acme" in r["activity"] for r in rows)


def test_export_job_runs_with_progress_and_downloads_the_file(acme, django_capture_on_commit_callbacks, tmp_path):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    with django_capture_on_commit_callbacks(execute=True):
        started = carl.post("/api/v1/compliance-exports/", {"kind": "records_csv"}, format="json")
    assert started.status_code == 202, started.content
    job = carl.get(f"/api/v1/compliance-exports/{started.json()['id']}/").json()
    assert (job["status"], job["progress"], job["error"]) == ("done", 100, "")
    download = carl.get(f"/api/v1/compliance-exports/{job['id']}/download")
    assert download.status_code == 200 and download["Content-Type"] == "text/csv; charset=utf-8"
    assert [r["clause"] for r in rows_of(download.content) if r["record"] == "processor"] == PROCESSOR
    with tenant_scope(acme.tenant.id):
        stored = ExportJob.objects.get(pk=job["id"]).file_name
        assert stored.startswith(f"compliance-exports/{acme.tenant.id}/")
        assert AuditEntry.objects.filter(action="records_of_processing.export", extra__export_job=job["id"]).exists()
    assert (tmp_path / "exports" / stored).read_bytes() == download.content


def test_dpia_pdf_export_job(acme, django_capture_on_commit_callbacks):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    dpia = carl.post("/api/v1/dpias/", {}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        started = carl.post("/api/v1/compliance-exports/", {"kind": "dpia_pdf", "dpia": dpia["id"]}, format="json")
    job = carl.get(f"/api/v1/compliance-exports/{started.json()['id']}/").json()
    assert job["status"] == "done"
    download = carl.get(f"/api/v1/compliance-exports/{job['id']}/download")
    assert download["Content-Disposition"] == 'attachment; filename="dpia-v1.pdf"'
    assert download.content.startswith(b"%PDF-")


def test_export_job_input_is_checked(acme, globex):  # noqa: ANN001
    from tests.compliance.exports_factory import make_dpia

    carl = client_for(acme.users["carl"])
    assert "kind" in carl.post("/api/v1/compliance-exports/", {"kind": "everything"}, format="json").json()
    missing = carl.post("/api/v1/compliance-exports/", {"kind": "dpia_json"}, format="json")
    assert missing.status_code == 400 and missing.json() == {"dpia": ["dpia_json needs the id of a DPIA"]}
    theirs = make_dpia(globex)
    other = carl.post("/api/v1/compliance-exports/", {"kind": "dpia_json", "dpia": theirs.id}, format="json")
    assert other.status_code == 400 and "dpia" in other.json()
    assert client_for(acme.users["olga"]).post("/api/v1/compliance-exports/", {"kind": "records_csv"},
                                               format="json").status_code == 403


def test_a_pending_export_cannot_be_downloaded_yet(acme):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    job = carl.post("/api/v1/compliance-exports/", {"kind": "records_pdf"}, format="json").json()  # never committed
    response = carl.get(f"/api/v1/compliance-exports/{job['id']}/download")
    assert response.status_code == 409 and "is pending" in response.json()["detail"]
