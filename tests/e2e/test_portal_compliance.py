"""The sites and compliance pages in a real browser (tests/e2e/conftest.py: browser_page) against a
live server with the demo data: as the demo compliance officer, see why face recognition
(biometric_identification) is off at the Chicago site with the law cited, and download a DPIA PDF.
Every page is checked with axe-core (no serious or critical violation) and under the CSP, and
screenshotted to test-artifacts/screenshots/ at 1280 and 820 px wide.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = (1280, 820)


class Portal:
    def __init__(self, page, origin: str) -> None:  # noqa: ANN001
        self.page, self.origin = page, origin
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(msg.text))

    def sign_in(self, username: str) -> None:
        self.page.goto(f"{self.origin}/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", "vadcloud-demo")
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("header .who")  # signed in (an operator lands on /alerts/, others on home)

    def check(self, name: str) -> None:
        """axe-core on the current page, no CSP report, and a screenshot at each width."""
        if not AXE.exists():
            pytest.fail(f"axe-core missing at {AXE}: run `npm ci` (make installs it)")
        page = self.page
        page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated over the devtools protocol: the CSP stays on
        violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]}))
            .violations.filter(v => ["serious", "critical"].includes(v.impact))
            .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(", ")}`)""")
        assert violations == [], f"{name}: {violations}"
        csp = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        assert csp == [], f"{name}: {csp}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name}: {overflow}px of horizontal scrolling at {width}px"
            page.screenshot(path=str(SHOTS / f"compliance-{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})


@pytest.fixture
def portal(live_server, browser_page):  # noqa: ANN001, ANN201
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    return Portal(browser_page, live_server.url)


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
