"""htmx in a real browser (tests/e2e/conftest.py: browser_page) against a live server with the demo
data: the alert wall's filter form swaps only the list (no page load, the URL follows), and the
audit log's "Older entries" appends the next page in place. htmx runs under the portal's CSP (no
eval, no inline style: tests/frontend/test_htmx_partials.py checks the config); axe-core reports no
serious or critical violation; screenshots go to test-artifacts/screenshots/htmx-*.png.
"""

from __future__ import annotations

import pytest

from compliance.audit import audit_record
from compliance.models import AuditEntry
from frontend.views_sites import AUDIT_PAGE
from tenants.models import Site, Tenant
from tenants.scope import tenant_scope
from tests.e2e.portal import Portal, demo_portal

pytestmark = pytest.mark.django_db(transaction=True)


class HtmxPortal(Portal):
    def mark(self) -> None:
        """Tag the document: a full page load would lose the tag, an htmx swap keeps it."""
        self.page.evaluate("document.documentElement.dataset.htmxTest = 'same-page'")

    def same_page(self) -> bool:
        return self.page.evaluate("document.documentElement.dataset.htmxTest") == "same-page"


@pytest.fixture
def portal(live_server, browser_page):  # noqa: ANN001, ANN201
    return demo_portal(live_server, browser_page, HtmxPortal, prefix="htmx")


def test_filtering_the_alert_wall_swaps_the_list_without_a_page_load(portal):  # noqa: ANN001
    page = portal.page
    portal.sign_in("olga")
    page.wait_for_selector("tbody#wall-rows")
    assert page.url == f"{portal.origin}/alerts/"  # the operator's landing page
    tenant = Tenant.objects.get(slug="acme-retail")
    with tenant_scope(tenant.id):
        chicago = Site.objects.get(name="Chicago Flagship")
    sites_before = set(page.eval_on_selector_all("tr[data-alert-id]", "rows => rows.map(r => r.dataset.site)"))
    assert str(chicago.id) in sites_before and len(sites_before) > 1, sites_before  # the demo has alerts at two sites
    portal.mark()

    page.select_option("[data-testid=filter-site]", str(chicago.id))  # change: htmx asks, no submit click
    page.wait_for_selector(f'tbody#wall-rows[data-filter-site="{chicago.id}"]')
    assert portal.same_page()
    assert page.url.endswith(f"/alerts/?site={chicago.id}&camera=&status=")  # pushed: a reload keeps the filter
    sites = set(page.eval_on_selector_all("tr[data-alert-id]", "rows => rows.map(r => r.dataset.site)"))
    assert sites == {str(chicago.id)}
    # the clear link and the status line follow on htmx:afterSettle, a moment after the rows are swapped in
    page.wait_for_selector("[data-wall-clear]", state="visible", timeout=5000)
    page.wait_for_selector("[data-testid=wall-status]:has-text('shown')", timeout=5000)
    portal.check("wall-filtered")

    page.select_option("[data-testid=filter-status]", "dismissed")
    page.wait_for_selector('tbody#wall-rows[data-filter-status="dismissed"]')
    statuses = set(page.eval_on_selector_all("tr[data-alert-id]", "rows => rows.map(r => r.dataset.status)"))
    assert statuses <= {"dismissed"}
    if not statuses:
        page.wait_for_selector("[data-testid=wall-empty]", state="visible", timeout=5000)
        assert "No alerts match these filters" in page.inner_text("[data-testid=wall-empty]")
    assert portal.same_page()

    page.reload()  # the pushed URL is a real page
    page.wait_for_selector(f'tbody#wall-rows[data-filter-site="{chicago.id}"][data-filter-status="dismissed"]')
    assert page.input_value("[data-testid=filter-status]") == "dismissed"
    portal.check("wall-filtered-reloaded")


def test_older_entries_on_the_audit_log_load_the_next_page_in_place(portal):  # noqa: ANN001
    page = portal.page
    portal.sign_in("carl")
    tenant = Tenant.objects.get(slug="acme-retail")
    with tenant_scope(tenant.id):
        for i in range(AUDIT_PAGE + 40):
            audit_record(tenant_id=tenant.id, action="e2e.paging", n=i)
        newest = list(AuditEntry.objects.order_by("-seq").values_list("seq", flat=True))
    page.goto(f"{portal.origin}/compliance/audit/")
    rows = lambda: page.eval_on_selector_all("tr[data-seq]", "rows => rows.map(r => Number(r.dataset.seq))")  # noqa: E731
    assert rows() == newest[:AUDIT_PAGE]
    portal.check("audit-first-page")
    portal.mark()

    more = page.locator("[data-testid=audit-more] a")
    assert more.get_attribute("href") == f"/compliance/audit/?before={newest[AUDIT_PAGE - 1]}"
    more.focus()
    page.keyboard.press("Enter")  # by keyboard, as a plain link would be followed
    page.wait_for_selector(f'tr[data-seq="{newest[AUDIT_PAGE]}"]')
    assert portal.same_page() and page.url == f"{portal.origin}/compliance/audit/"
    assert rows() == newest[:2 * AUDIT_PAGE]
    # focus on the first new row: htmx moves it on afterSettle, a settle delay after the rows appear
    page.wait_for_function("seq => document.activeElement && document.activeElement.dataset.seq === seq",
                           arg=str(newest[AUDIT_PAGE]), timeout=5000)
    if len(newest) <= 2 * AUDIT_PAGE:
        assert page.locator("[data-testid=audit-more]").count() == 0  # that was the last page
    portal.check("audit-next-page")
