"""/api/v1/billing/: owners only; billing cleanly off without STRIPE_SECRET_KEY; quantity sync retried."""

from __future__ import annotations

import pytest

from tenants.billing.models import BillingAccount
from tenants.scope import tenant_scope
from tests.billing.conftest import deliver, stripe_event, subscription
from tests.conftest import client_for
from vadcloud.celery import app as celery_app

NON_OWNERS = ["alice", "olga", "carl", "vera"]  # admin, operator, compliance officer, viewer


@pytest.mark.parametrize("name", NON_OWNERS)
def test_only_owners_manage_billing(acme, billing, name):  # noqa: ANN001
    client = client_for(acme.users[name])
    for response in (client.get("/api/v1/billing/"),
                     client.post("/api/v1/billing/checkout/", {"plan": "starter"}, format="json"),
                     client.post("/api/v1/billing/portal/")):
        assert response.status_code == 403, (name, response.content)
        assert "only the tenant's owners manage billing" in response.json()["detail"]
    assert billing.stub.requests == []
    assert client_for(acme.users["owen"]).get("/api/v1/billing/").status_code == 200  # positive control


def test_billing_off_without_a_secret_key_limits_nothing_and_says_so(acme, settings):  # noqa: ANN001
    settings.STRIPE_SECRET_KEY = ""
    owner = client_for(acme.users["owen"])
    status = owner.get("/api/v1/billing/").json()
    assert status["configured"] is False and "billing is not configured" in status["detail"]
    for n in range(6):  # beyond every plan's free allowance: nothing is enforced
        assert owner.post("/api/v1/cameras/", {"site": acme.site.id, "name": f"Cam {n}"}, format="json").status_code == 201
    for response in (owner.post("/api/v1/billing/checkout/", {"plan": "starter"}, format="json"),
                     owner.post("/api/v1/billing/portal/")):
        assert response.status_code == 409 and "STRIPE_SECRET_KEY is unset" in response.json()["detail"]
    with tenant_scope(acme.tenant.id):
        assert not BillingAccount.objects.exists()


def test_bad_checkout_input_is_400_naming_the_plans(acme, billing):  # noqa: ANN001
    owner = client_for(acme.users["owen"])
    response = owner.post("/api/v1/billing/checkout/", {"plan": "platinum"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"plan": ["unknown plan 'platinum'; available: ['starter', 'pro', 'enterprise']"]}
    assert owner.post("/api/v1/billing/checkout/", {}, format="json").status_code == 400
    assert billing.stub.requests == []


def test_portal_before_any_checkout_is_409_and_checkout_twice_is_409(acme, billing):  # noqa: ANN001
    owner = client_for(acme.users["owen"])
    response = owner.post("/api/v1/billing/portal/")
    assert response.status_code == 409 and "choose a plan first" in response.json()["detail"]
    deliver(stripe_event("evt_1", "customer.subscription.created", subscription("sub_1", tenant_id=acme.tenant.id)),
            billing.secret)
    again = owner.post("/api/v1/billing/checkout/", {"plan": "pro"}, format="json")
    assert again.status_code == 409 and "Customer Portal" in again.json()["detail"]


def test_stripe_unreachable_is_503_not_500(acme, billing, settings):  # noqa: ANN001
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: connection refused
    response = client_for(acme.users["owen"]).post("/api/v1/billing/checkout/", {"plan": "starter"}, format="json")
    assert response.status_code == 503 and "Stripe could not start Checkout" in response.json()["detail"]


def test_quantity_sync_is_retried_after_a_stripe_failure_and_is_idempotent(
        acme, billing, django_capture_on_commit_callbacks):  # noqa: ANN001
    from tenants.billing.tasks import billing_quantity_sync

    stub = billing.stub
    stub.add_subscription("sub_1", customer="cus_1", price="price_starter", quantity=2, tenant_id=acme.tenant.id)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(stripe_event("evt_1", "customer.subscription.created",
                             subscription("sub_1", tenant_id=acme.tenant.id, quantity=2)), billing.secret)
    stub.fail_next = 1  # Stripe answers the next request with a 500
    owner = client_for(acme.users["owen"])
    # Eager Celery replays a retry in-process only when it does not propagate the Retry exception.
    celery_app.conf.task_eager_propagates = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert owner.post("/api/v1/cameras/", {"site": acme.site.id, "name": "Lobby"},
                              format="json").status_code == 201
    finally:
        celery_app.conf.task_eager_propagates = True
    assert stub.subscriptions["sub_1"]["items"]["data"][0]["quantity"] == 3
    assert len(stub.calls("GET", "/v1/subscriptions/sub_1")) >= 3  # the failed try, its retry (and the first sync)
    writes = len(stub.calls("POST", "/v1/subscription_items/"))
    assert billing_quantity_sync.delay(tenant_id=acme.tenant.id).get() == "quantity already 3"  # a duplicate run
    assert len(stub.calls("POST", "/v1/subscription_items/")) == writes
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.delete(f"/api/v1/cameras/{acme.other_camera.id}/").status_code == 204
    assert stub.subscriptions["sub_1"]["items"]["data"][0]["quantity"] == 2  # removing a camera syncs too
