"""The Content-Security-Policy in a real browser: the portal pages, the tokens page and the Swagger UI
render and work with zero CSP violations, and load nothing from another host.

The browser is tests/e2e/conftest.py's browser_page.
"""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from tenants.models import Membership, Role, Tenant
from tenants.scope import tenant_scope

pytestmark = pytest.mark.django_db(transaction=True)

# Runs in every document before its own scripts (Playwright injects it past the CSP).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportCsp(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} on ${e.documentURI}`);
});
"""


class Watched:
    """A page plus everything the browser said about the CSP and every host it contacted."""

    def __init__(self, page, origin: str) -> None:  # noqa: ANN001
        self.page = page
        self.origin = origin
        self.violations: list[str] = []
        self.console: list[str] = []
        self.foreign: list[str] = []
        page.expose_function("reportCsp", self._violation)
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("request", self._request)

    def _violation(self, text: str) -> None:
        self.violations.append(text)

    def _request(self, request) -> None:  # noqa: ANN001
        if not request.url.startswith((self.origin, "data:")):
            self.foreign.append(request.url)

    def csp_console(self) -> list[str]:
        return [m for m in self.console if "Refused to" in m or "Content Security Policy" in m]


@pytest.fixture
def watched(live_server, browser_page):  # noqa: ANN001, ANN201
    return Watched(browser_page, live_server.url)


def sign_in(watched: Watched, username: str, password: str) -> None:
    page = watched.page
    page.goto(f"{watched.origin}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("header .who")  # signed in: operators land on /alerts/, others on the home page


def test_portal_tokens_page_and_swagger_ui_work_with_no_csp_violation(live_server, watched):  # noqa: ANN001
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    globex = Tenant.objects.create(slug="globex", name="Globex")
    with tenant_scope(globex.id):  # a second tenant, so the header shows the switcher
        Membership.objects.create(user=Membership.unscoped_objects.get(user__username="olga").user, role=Role.VIEWER)
    page = watched.page

    sign_in(watched, "olga", "vadcloud-demo")
    response = page.goto(f"{live_server.url}/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.inner_text("[data-testid=tenant-name]") == "Acme Retail"

    # the tenant switcher submits on change through portal.js (it was an inline onchange handler)
    with page.expect_navigation():
        page.select_option("select[name=tenant]", "globex")
    assert page.inner_text("[data-testid=tenant-name]") == "Globex"

    # tokens page: create (the secret is shown once), then revoke through the confirm dialog
    page.click("text=API tokens")
    page.wait_for_selector("h1:has-text('API tokens')")
    page.fill("input[name=name]", "browser-ci")
    page.click("button:has-text('Create token')")
    secret = page.inner_text("[data-testid=token-secret]")
    assert secret.startswith("vad_")
    assert page.locator("[data-testid=token-row]").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=token-row] button:has-text('Revoke')")
    page.wait_for_selector("[data-testid=message]")
    assert "is revoked" in page.inner_text("[data-testid=message]")
    assert page.locator("[data-testid=token-row]").count() == 0

    # Swagger UI from the sidecar's static files, its init script from ?script=
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "VADCloud API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag", timeout=15000)
    assert page.locator(".opblock").count() > 10
    assert "/api/v1/me/tokens/" in page.inner_text(".swagger-ui")

    # the DRF browsable API (its one inline <style> is allowed by hash)
    page.goto(f"{live_server.url}/api/v1/me/")
    page.wait_for_selector(".response-info")
    assert '"username": "olga"' in page.inner_text(".response-info")

    assert watched.violations == [], watched.violations
    assert watched.csp_console() == [], watched.csp_console()
    assert watched.foreign == [], f"loaded from another host: {watched.foreign}"


def test_login_and_lockout_pages_have_no_csp_violation(live_server, watched):  # noqa: ANN001
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    page = watched.page
    page.goto(f"{live_server.url}/login/")
    for _ in range(5):
        page.fill("input[name=username]", "carl")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=lockout]")
    assert "Try again after" in page.inner_text("[data-testid=lockout]")
    page.goto(f"{live_server.url}/admin/login/")
    page.wait_for_selector("input[name=username]")

    assert watched.violations == [], watched.violations
    assert watched.csp_console() == [], watched.csp_console()
