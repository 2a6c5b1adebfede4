"""KPIs, members and account security (TOTP) in a real browser (tests/e2e/conftest.py: browser_page).

On the demo data: the owner reads the KPI plots, changes a member's sites and sees the owner rule
as a message; an admin sets up TOTP with a code computed here, then signs in with password and
code. No serious/critical axe-core violation; screenshots at 1280 and 820 px
(test-artifacts/screenshots/kpis-*.png, members-*.png, security-*.png, login-code-*.png).
"""

from __future__ import annotations

import os
import re
from base64 import b32decode
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_otp.oath import totp

from cameras.models import Camera, EdgeDevice
from detection.models import Alert, AlertKind
from tenants.models import Tenant
from tenants.scope import tenant_scope

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture
def demo():  # noqa: ANN201
    """The demo tenant; its Entrance camera has a device that was offline for an hour yesterday."""
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    tenant = Tenant.objects.get(slug="acme-retail")
    with tenant_scope(tenant.id):
        camera = Camera.objects.select_related("site").get(name="Entrance")
        device = EdgeDevice.objects.create(site=camera.site, name="front-box")
        Camera.objects.filter(id=camera.id).update(device=device)
        start = timezone.now() - timedelta(days=1)
        Alert.objects.create(camera=camera, device=device, kind=AlertKind.DEVICE_OFFLINE, started_at=start,
                             ended_at=start + timedelta(hours=1), peak_score=0.0)
    return tenant


def log_in(page, base: str, username: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "vadcloud-demo")
    page.click("button[type=submit]")


def check_page(page, name: str) -> None:  # noqa: ANN001
    """No serious/critical axe violation (axe evaluated over DevTools: the CSP allows no inline script);
    screenshots at 1280 and 820 px wide."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    assert [v for v in found if v["impact"] in ("serious", "critical")] == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 820):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def csp_watch(page) -> list[str]:  # noqa: ANN001
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def test_owner_reads_the_kpi_plots_and_manages_members(live_server, browser_page, demo):  # noqa: ANN001
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    csp = csp_watch(page)
    log_in(page, live_server.url, "owen")
    page.wait_for_selector("[data-testid=tenant-name]")

    page.click("nav >> text=KPIs")
    page.wait_for_selector("[data-testid=camera-kpis]")
    entrance = page.locator("[data-testid=camera-kpis] tr[data-name=Entrance]")
    uptime = float(entrance.locator("[data-kpi=uptime]").inner_text().rstrip("%"))
    now = timezone.now()
    since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6)
    expected = (1 - 3600 / (now - since).total_seconds()) * 100  # one hour offline in the period so far
    assert abs(uptime - expected) < 0.011, (uptime, expected)
    assert entrance.locator("[data-kpi=uptime]").get_attribute("class") == "bad"  # under 99.5%
    assert page.locator("svg.chart").count() >= 6 and page.locator("line.budget").count() >= 1
    assert "Chicago Flagship" in page.inner_text("[data-testid=site-kpis]")
    check_page(page, "kpis")

    page.goto(f"{live_server.url}/kpis/?date_from=2026-03-05&date_to=2026-03-01")
    assert "is after the end date" in page.inner_text("[data-testid=kpi-error]")

    page.click("nav >> text=Members")
    page.wait_for_selector("[data-testid=member-row]")
    carl = page.locator("form.member", has_text="carl")
    carl.locator("input[name=all_sites]").uncheck()
    carl.get_by_label("Chicago Flagship").check()
    carl.get_by_role("button", name="Save carl").click()
    page.wait_for_selector("[data-testid=message]")
    assert "carl is now compliance officer with access to 1 site(s)." in page.inner_text("[data-testid=message]")

    owen = page.locator("form.member", has_text="owen")
    owen.locator("select[name=role]").select_option("admin")
    owen.get_by_role("button", name="Save owen").click()
    page.wait_for_selector("[data-testid=members-error]")
    assert "a tenant must keep at least one owner" in page.inner_text("[data-testid=members-error]")

    page.goto(f"{live_server.url}/members/")
    page.fill("#invite-email", "newhire@acme.example")
    page.select_option("#invite-role", "operator")
    page.click("text=Send invitation")
    page.wait_for_selector("[data-testid=message]")
    assert "newhire@acme.example" in page.inner_text("[data-testid=invitation-row] >> nth=0")
    check_page(page, "members")
    assert csp == []


def test_admin_sets_up_totp_and_then_signs_in_with_the_code(live_server, browser_page, demo):  # noqa: ANN001
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    csp = csp_watch(page)
    log_in(page, live_server.url, "alice")
    page.wait_for_selector("[data-testid=tenant-name]")
    page.click("header >> text=Security")
    secret = page.inner_text("[data-testid=totp-secret]").replace(" ", "")
    assert re.fullmatch(r"otpauth://totp/.+secret=" + secret + r".*", page.inner_text("[data-testid=otpauth-uri]"))
    check_page(page, "security-setup")
    key = b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("#id_otp_token", f"{totp(key):06d}")
    page.click("text=Turn on two-factor sign-in")
    page.wait_for_selector("[data-testid=message]")
    assert "Two-factor sign-in is on" in page.inner_text("[data-testid=message]")
    check_page(page, "security-on")

    page.click("header >> text=Log out")
    log_in(page, live_server.url, "alice")
    page.wait_for_selector("#id_otp_token")
    check_page(page, "login-code")
    page.fill("#id_otp_token", f"{totp(key, t0=-30):06d}")  # the next step's code: the set-up used this one
    page.click("text=Verify")
    page.wait_for_selector("[data-testid=tenant-name]")
    assert page.inner_text("[data-testid=tenant-name]") == "Acme Retail"
    assert csp == []
