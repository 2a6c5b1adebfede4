"""/billing/ portal page: owners see plan, status, cameras against the limit, and go to Stripe."""

from __future__ import annotations

from django.test import Client

from tenants.billing.models import BillingAccount
from tenants.scope import tenant_scope


def browser(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def test_the_page_says_billing_is_not_configured_without_a_secret_key(acme, settings):  # noqa: ANN001
    settings.STRIPE_SECRET_KEY = ""
    response = browser(acme.users["owen"]).get("/billing/")
    assert response.status_code == 200
    assert b"Billing is not configured" in response.content and b"Upgrade" not in response.content


def test_owner_sees_the_plans_and_upgrade_goes_to_stripe_checkout(acme, billing):  # noqa: ANN001
    client = browser(acme.users["owen"])
    page = client.get("/billing/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "No plan" in html and "2 of 0" in html and 'data-testid="upgrade-starter"' in html
    assert "https://checkout.stripe.com" in page["Content-Security-Policy"]  # the form's redirect is allowed
    response = client.post("/billing/checkout/", {"plan": "pro"})
    assert response.status_code == 302 and response["Location"].startswith("https://checkout.stripe.test/")
    assert billing.stub.calls("POST", "/v1/checkout/sessions")[0]["line_items[0][price]"] == "price_pro"


def test_subscribed_owner_sees_plan_and_count_and_manage_billing_opens_the_portal(acme, billing):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        BillingAccount.objects.create(plan="starter", status="active", stripe_customer_id="cus_1",
                                      stripe_subscription_id="sub_1")
    client = browser(acme.users["owen"])
    html = client.get("/billing/").content.decode()
    assert "Starter" in html and "2 of 4" in html and "Manage billing" in html and "Upgrade" not in html
    response = client.post("/billing/portal/")
    assert response.status_code == 302 and response["Location"] == "https://billing.stripe.test/p/session_1"


def test_a_stripe_error_comes_back_as_a_message_on_the_page(acme, billing):  # noqa: ANN001
    client = browser(acme.users["owen"])
    response = client.post("/billing/portal/", follow=True)
    assert response.status_code == 200 and b"choose a plan first" in response.content


def test_non_owners_get_403(acme, billing):  # noqa: ANN001
    for name in ("alice", "olga", "carl", "vera"):
        client = browser(acme.users[name])
        assert client.get("/billing/").status_code == 403, name
        assert client.post("/billing/checkout/", {"plan": "starter"}).status_code == 403, name
        assert client.post("/billing/portal/").status_code == 403, name
    assert billing.stub.requests == []
