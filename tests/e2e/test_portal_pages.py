"""The portal pages no other browser test screenshots: the login page, the home page with the
tenant switcher, the personal API tokens page and billing. Each is checked with axe-core (no
serious or critical violation), under the CSP, without horizontal scrolling at tablet width, and
screenshotted to test-artifacts/screenshots/pages-*.png at 1280 and 820 px.
"""

from __future__ import annotations

import pytest

from tenants.models import Membership, Role, Tenant
from tenants.scope import tenant_scope
from tests.e2e.portal import demo_portal

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pages(live_server, browser_page):  # noqa: ANN001, ANN201
    return demo_portal(live_server, browser_page, prefix="pages", check_overflow=True)


def test_login_home_with_tenant_switcher_and_tokens_pages(pages):  # noqa: ANN001
    page = pages.page
    globex = Tenant.objects.create(slug="globex", name="Globex")
    with tenant_scope(globex.id):  # a second tenant: the header shows the switcher
        Membership.objects.create(user=Membership.unscoped_objects.get(user__username="olga").user, role=Role.VIEWER)
    page.goto(f"{pages.origin}/login/")
    pages.check("login")
    pages.sign_in("olga")
    assert page.url == f"{pages.origin}/alerts/"
    page.goto(f"{pages.origin}/")
    assert page.inner_text("[data-testid=tenant-name]") == "Acme Retail"
    assert page.is_visible("header select[name=tenant]")
    assert page.get_attribute("[data-testid=open-wall]", "href") == "/alerts/"
    pages.check("home-switcher")
    page.click("header >> text=API tokens")
    page.wait_for_selector("h1:has-text('API tokens')")
    page.fill("input[name=name]", "screenshot")
    page.click("button:has-text('Create token')")
    page.wait_for_selector("[data-testid=token-secret]")
    pages.check("tokens")


def test_owner_billing_page(pages):  # noqa: ANN001
    page = pages.page
    pages.sign_in("owen")
    page.click("header nav >> text=Billing")
    page.wait_for_selector("h1")
    assert "Billing" in page.inner_text("h1")
    pages.check("billing")
