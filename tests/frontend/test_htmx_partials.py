"""htmx in the portal (django-htmx): the alert wall's filter form and the audit log's "Older entries"
link ask with ``HX-Request: true`` and get only the fragment they swap; the same URL without it
(a plain link, JS off, a reload) is the whole page. htmx itself is one of our static files."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from compliance.audit import audit_record
from compliance.models import AuditEntry
from frontend.views_sites import AUDIT_PAGE
from tenants.scope import tenant_scope
from tests.conftest import portal_client as portal

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]


def test_every_page_loads_htmx_from_our_static_files_configured_without_eval(acme):  # noqa: ANN001
    html = portal(acme.users["olga"], acme.tenant.id).get("/alerts/").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert finders.find("django_htmx/htmx-2.min.js")  # served by staticfiles, not a CDN
    assert '"allowEval":false' in html and '"includeIndicatorStyles":false' in html
    assert "https://" not in re.sub(r"<a [^>]*>", "", html.split("</head>")[0])  # nothing in <head> from elsewhere


# --- the alert wall's filter form ----------------------------------------------------------------
def test_wall_filter_with_hx_request_answers_only_the_list(acme):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).get(f"/alerts/?site={acme.site.id}", **HX)
    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith('<tbody id="wall-rows"') and html.endswith("</tbody>")
    assert f'data-filter-site="{acme.site.id}"' in html
    assert f'data-alert-id="{acme.alert.id}"' in html and f'data-alert-id="{acme.other_alert.id}"' not in html
    assert "<html" not in html and "wall-filters" not in html
    assert "HX-Request" in response["Vary"]


def test_the_same_filter_url_without_hx_request_is_the_whole_page(acme):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).get(f"/alerts/?site={acme.site.id}")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html and 'data-testid="wall-filters"' in html
    assert 'hx-get="/alerts/"' in html and 'hx-target="#wall-rows"' in html
    assert f'data-alert-id="{acme.alert.id}"' in html and f'data-alert-id="{acme.other_alert.id}"' not in html


def test_a_history_restore_gets_the_whole_page(acme):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).get(
        "/alerts/?status=open", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    assert "<html" in response.content.decode()


def test_bad_filter_in_a_partial_is_a_400_row_naming_it(acme):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).get("/alerts/?camera=abc", **HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert html.strip().startswith("<tbody") and 'role="alert"' in html
    assert "camera must be a positive whole number" in html


def test_another_tenants_member_gets_their_own_list_in_the_partial(acme, globex):  # noqa: ANN001
    html = portal(globex.users["mallory"], globex.tenant.id).get("/alerts/", **HX).content.decode()
    assert f'data-alert-id="{globex.alert.id}"' in html  # positive control
    assert f'data-alert-id="{acme.alert.id}"' not in html


# --- the audit log's pages -----------------------------------------------------------------------
@pytest.fixture
def carl(acme) -> Client:  # noqa: ANN001
    return portal(acme.users["carl"], acme.tenant.id)  # signing in is an audit entry too: before long_log


@pytest.fixture
def long_log(acme, carl):  # noqa: ANN001, ANN201
    """More than two pages of entries in acme's chain; their seqs, newest first."""
    with tenant_scope(acme.tenant.id):
        for i in range(2 * AUDIT_PAGE + 30):
            audit_record(tenant_id=acme.tenant.id, action="test.page", n=i)
        return list(AuditEntry.objects.order_by("-seq").values_list("seq", flat=True))


def test_audit_log_shows_the_newest_page_with_a_plain_older_entries_link(carl, long_log):  # noqa: ANN001
    html = carl.get("/compliance/audit/").content.decode()
    assert seqs(html) == long_log[:AUDIT_PAGE]
    cursor = long_log[AUDIT_PAGE - 1]
    assert f'href="/compliance/audit/?before={cursor}"' in html
    assert f'hx-get="/compliance/audit/?before={cursor}"' in html


def test_older_entries_without_js_is_the_next_whole_page(carl, long_log):  # noqa: ANN001
    client = carl
    html = client.get(f"/compliance/audit/?before={long_log[AUDIT_PAGE - 1]}").content.decode()
    assert "<html" in html and seqs(html) == long_log[AUDIT_PAGE:2 * AUDIT_PAGE]
    assert "Newest entries" in html
    last = client.get(f"/compliance/audit/?before={long_log[2 * AUDIT_PAGE - 1]}").content.decode()
    assert seqs(last) == long_log[2 * AUDIT_PAGE:] and 'data-testid="audit-more"' not in last  # the end


def test_older_entries_with_hx_request_is_only_the_next_rows(carl, long_log):  # noqa: ANN001
    response = carl.get(
        f"/compliance/audit/?before={long_log[AUDIT_PAGE - 1]}", **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert "<html" not in html and "<table" not in html and "<tbody" not in html
    assert seqs(html) == long_log[AUDIT_PAGE:2 * AUDIT_PAGE]
    assert f'hx-get="/compliance/audit/?before={long_log[2 * AUDIT_PAGE - 1]}"' in html
    assert html.count("data-focus-after-swap") == 1  # the first new row takes the focus


def test_paging_keeps_the_search(acme, carl, long_log):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        audit_record(tenant_id=acme.tenant.id, action="other.thing")
    client = carl
    html = client.get("/compliance/audit/", {"action": "test.page"}).content.decode()
    cursor = long_log[AUDIT_PAGE - 1]
    assert f'href="/compliance/audit/?action=test.page&amp;before={cursor}"' in html
    page2 = client.get("/compliance/audit/", {"action": "test.page", "before": cursor}, **HX).content.decode()
    assert seqs(page2) == long_log[AUDIT_PAGE:2 * AUDIT_PAGE] and "other.thing" not in page2


@pytest.mark.parametrize("before", ["abc", "-4", "0", "9" * 30])
def test_a_bad_cursor_is_a_400_naming_it(carl, before):  # noqa: ANN001
    client = carl
    for extra in ({}, HX):
        response = client.get("/compliance/audit/", {"before": before}, **extra)
        assert response.status_code == 400
        assert "before must be an entry&#x27;s seq (a positive whole number)" in response.content.decode()


def test_an_operator_is_refused_the_audit_pages_partial_and_the_officer_gets_it(acme, long_log):  # noqa: ANN001
    url = f"/compliance/audit/?before={long_log[0]}"
    assert portal(acme.users["olga"], acme.tenant.id).get(url, **HX).status_code == 403
    assert portal(acme.users["carl"], acme.tenant.id).get(url, **HX).status_code == 200  # positive control


def test_another_tenant_sees_only_its_own_entries_on_every_page(acme, globex, long_log):  # noqa: ANN001
    globex.add("gina", "compliance_officer")
    with tenant_scope(globex.tenant.id):
        audit_record(tenant_id=globex.tenant.id, action="globex.only")
    html = portal(globex.users["gina"], globex.tenant.id).get(
        f"/compliance/audit/?before={long_log[0] + 10_000}", **HX).content.decode()
    assert "globex.only" in html  # positive control
    assert "test.page" not in html
