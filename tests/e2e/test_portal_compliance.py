"""The sites and compliance pages in a real browser (tests/e2e/conftest.py: browser_page) against a
live server with the demo data: as the demo compliance officer, see why face recognition
(biometric_identification) is off at the Chicago site with the law cited, and download a DPIA PDF.
Every page is checked with axe-core (no serious or critical violation) and under the CSP, and
screenshotted to test-artifacts/screenshots/ at 1280 and 820 px wide.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.e2e.portal import demo_portal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def portal(live_server, browser_page):  # noqa: ANN001, ANN201
    return demo_portal(live_server, browser_page, prefix="compliance", check_overflow=True)


def test_officer_sees_why_face_recognition_is_off_in_chicago_and_downloads_a_dpia_pdf(portal):  # noqa: ANN001
    page = portal.page
    portal.sign_in("carl")
    page.click("header nav >> text=Sites")
    page.wait_for_selector("[data-testid=site-table]")
    portal.check("sites")
    page.click("text=Chicago Flagship")
    page.wait_for_selector("[data-testid=site-name]")
    assert page.inner_text("[data-testid=jurisdiction]") == "US-IL"
    assert "Chicago" in page.inner_text("main")  # the locality
    entrance = page.locator("[data-testid=camera-policy][data-camera=Entrance]")
    face = entrance.locator("[data-testid=decision-biometric_identification]")
    text = face.inner_text()
    assert "disabled" in text and "740 ILCS 14/15(b) requires a written release; none on file" in text
    assert "Biometric Information Privacy Act" in text
    assert "ilga.gov" in face.locator("a").first.get_attribute("href")
    assert "not allowed" in page.inner_text("[data-testid=scene-images]")
    portal.check("site-chicago")

    page.click("header nav >> text=Compliance")
    page.wait_for_selector("h1:has-text('Compliance')")
    portal.check("overview")
    page.click(".subnav >> text=DPIA")
    page.wait_for_selector("[data-testid=empty]")
    portal.check("dpia-empty")
    page.click("[data-testid=dpia-create]")
    page.wait_for_selector("[data-testid=dpia-pdf]")
    portal.check("dpia-draft")
    with page.expect_download() as info:
        page.click("[data-testid=dpia-pdf]")
    download = info.value
    assert download.suggested_filename.endswith(".pdf")
    assert Path(download.path()).read_bytes().startswith(b"%PDF")

    page.fill("input[name=dpo_name]", "Carl Compliance")
    page.fill("textarea[name=dpo_opinion]", "Proceed; biometric identification stays off in Chicago.")
    page.fill("input[name=review_date]", (timezone.localdate() + timedelta(days=365)).isoformat())
    page.click("text=Sign as DPO")
    page.wait_for_selector("[data-testid=signed]")
    portal.check("dpia-signed")


def test_officer_walks_every_compliance_page(portal):  # noqa: ANN001
    page = portal.page
    portal.sign_in("carl")
    page.goto(f"{portal.origin}/compliance/consents/")
    portal.check("consents")
    page.goto(f"{portal.origin}/compliance/retention/")
    portal.check("retention")
    page.goto(f"{portal.origin}/compliance/records/")
    assert "Art. 30" in page.inner_text("h1")
    portal.check("records")
    page.goto(f"{portal.origin}/compliance/audit/")
    portal.check("audit")
    page.click("button:has-text('Export and verify')")
    page.wait_for_selector("[data-testid=verify-result]")
    assert "chain intact" in page.inner_text("[data-testid=verify-result]")
    portal.check("audit-verified")
    page.goto(f"{portal.origin}/compliance/erasure/")
    portal.check("erasure")
    page.select_option("select[name=camera]", label="Parking lot (Chicago Flagship)")
    start = timezone.localtime(timezone.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    end = timezone.localtime(timezone.now()).strftime("%Y-%m-%dT%H:%M")
    page.fill("input[name=starts_at]", start)
    page.fill("input[name=ends_at]", end)
    page.fill("input[name=reason]", "DSAR 2026-17")
    page.click("button:has-text('Execute erasure')")
    page.wait_for_selector("[data-testid=proof]")
    assert int(page.inner_text("[data-testid=deleted-count]")) >= 1
    portal.check("erasure-proof")


def test_operator_is_told_the_compliance_pages_are_not_for_their_role(portal):  # noqa: ANN001
    page = portal.page
    portal.sign_in("olga")
    assert page.locator("header nav >> text=Compliance").count() == 0
    response = page.goto(f"{portal.origin}/compliance/dpia/")
    assert response.status == 403
    assert "does not allow this action" in page.inner_text("[data-testid=error]")
    portal.check("refused-operator")
