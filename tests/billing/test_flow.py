"""The issue's "done when": no plan -> Checkout -> active subscription -> cameras up to the limit -> 402 ->
failed payment -> grace period -> read-only configuration while alerts are still ingested, listed and
acknowledged -> paid again. Stripe is the local stub; webhooks are signed with a generated secret."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from detection.models import Alert
from tenants.billing.models import BillingAccount
from tenants.scope import tenant_scope
from tests.billing.conftest import account_of, deliver, invoice, stripe_event
from tests.conftest import SQUARE, client_for


def add_camera(client, world, name: str):  # noqa: ANN001, ANN201
    return client.post("/api/v1/cameras/", {"site": world.site.id, "name": name}, format="json")


def test_owner_goes_from_no_plan_to_the_limit_and_survives_a_failed_payment(
        acme, billing, django_capture_on_commit_callbacks):  # noqa: ANN001
    stub, tid, owner = billing.stub, acme.tenant.id, client_for(acme.users["owen"])
    status = owner.get("/api/v1/billing/").json()
    assert (status["configured"], status["plan"], status["cameras"], status["camera_limit"]) == (True, None, 2, 0)
    assert [p["key"] for p in status["plans"]] == ["starter", "pro", "enterprise"]

    refused = add_camera(owner, acme, "Lobby")
    assert refused.status_code == 402
    assert "without a plan 0 camera(s) are free" in refused.json()["detail"]
    assert "upgrade to Starter (up to 4 cameras)" in refused.json()["detail"]

    # Checkout for Starter, priced per camera: the quantity is today's camera count
    started = owner.post("/api/v1/billing/checkout/", {"plan": "starter"}, format="json")
    assert started.status_code == 201 and started.json()["url"].startswith("https://checkout.stripe.test/")
    sent = stub.calls("POST", "/v1/checkout/sessions")[0]
    assert (sent["mode"], sent["line_items[0][price]"], sent["line_items[0][quantity]"]) == ("subscription", "price_starter", "2")
    assert sent["client_reference_id"] == str(tid) and sent["subscription_data[metadata][tenant_id]"] == str(tid)

    # Stripe completes the session and tells us (signed); the subscription is read back from Stripe
    stub.add_subscription("sub_1", customer="cus_1", price="price_starter", quantity=2, tenant_id=tid)
    completed = {"id": "cs_test_1", "object": "checkout.session", "mode": "subscription", "customer": "cus_1",
                 "subscription": "sub_1", "client_reference_id": str(tid)}
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(stripe_event("evt_1", "checkout.session.completed", completed, created=int(time.time())),
                       billing.secret).status_code == 200
    status = owner.get("/api/v1/billing/").json()
    assert (status["plan"], status["status"], status["camera_limit"], status["can_manage"]) == ("starter", "active", 4, True)

    # cameras up to the limit; each one syncs the subscription quantity (a task, after commit)
    for name in ("Lobby", "Yard"):
        with django_capture_on_commit_callbacks(execute=True):
            assert add_camera(owner, acme, name).status_code == 201
    assert stub.subscriptions["sub_1"]["items"]["data"][0]["quantity"] == 4
    assert [c["quantity"] for c in stub.calls("POST", "/v1/subscription_items/")] == ["3", "4"]
    refused = add_camera(owner, acme, "Roof")
    assert refused.status_code == 402
    detail = refused.json()["detail"]
    assert "the Starter plan allows 4 camera(s) and the tenant has 4" in detail
    assert "upgrade to Pro (up to 25 cameras)" in detail and "Manage billing" in detail

    # the Customer Portal opens for the linked customer
    portal = owner.post("/api/v1/billing/portal/")
    assert portal.status_code == 201 and stub.calls("POST", "/v1/billing_portal/sessions")[0]["customer"] == "cus_1"

    # a failed payment starts the grace period: configuration still works during it
    assert deliver(stripe_event("evt_2", "invoice.payment_failed", invoice(), created=int(time.time()) + 1),
                   billing.secret).status_code == 200
    assert account_of(acme).status == "past_due"
    assert owner.patch(f"/api/v1/cameras/{acme.camera.id}/", {"fps": 5}, format="json").status_code == 200

    # ... and after it, configuration is read-only (402) while alerts are listed and acknowledged
    with tenant_scope(tid):
        BillingAccount.objects.update(payment_failed_at=timezone.now() - timedelta(days=8))
    assert owner.get("/api/v1/billing/").json()["read_only"] is True
    for response in (owner.patch(f"/api/v1/cameras/{acme.camera.id}/", {"fps": 6}, format="json"),
                     owner.post("/api/v1/zones/", {"camera": acme.camera.id, "name": "Door 2", "kind": "intrusion",
                                                   "points": SQUARE}, format="json"),
                     owner.post("/api/v1/sites/", {"name": "Annex", "jurisdiction": "DE"}, format="json"),
                     add_camera(owner, acme, "Roof")):
        assert response.status_code == 402, response.content
        assert "configuration is read-only" in response.json()["detail"]
        assert "Alerts are still received and can be acknowledged" in response.json()["detail"]
    operator = client_for(acme.users["olga"])
    listed = operator.get("/api/v1/alerts/")
    assert listed.status_code == 200 and acme.alert.id in {row["id"] for row in listed.json()["results"]}
    acked = operator.post(f"/api/v1/alerts/{acme.alert.id}/acknowledge/", {"reason": "investigating"}, format="json")
    assert acked.status_code == 200, acked.content

    # paid again: writable again
    assert deliver(stripe_event("evt_3", "invoice.paid", invoice(), created=int(time.time()) + 2),
                   billing.secret).status_code == 200
    assert account_of(acme).status == "active" and account_of(acme).payment_failed_at is None
    assert owner.patch(f"/api/v1/cameras/{acme.camera.id}/", {"fps": 6}, format="json").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_edge_alerts_are_still_ingested_while_configuration_is_read_only(acme, billing):  # noqa: ANN001
    from asgiref.sync import async_to_sync

    from tests.detection.test_edge_ingest import enroll, event, open_edge, send_recv, welcome_of

    with tenant_scope(acme.tenant.id):
        BillingAccount.objects.create(plan="starter", status="past_due", stripe_customer_id="cus_1",
                                      stripe_subscription_id="sub_1",
                                      payment_failed_at=timezone.now() - timedelta(days=30))
    owner = client_for(acme.users["owen"])
    assert owner.patch(f"/api/v1/cameras/{acme.camera.id}/", {"fps": 5}, format="json").status_code == 402
    device, key = enroll(acme)

    async def run() -> dict:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        reply = await send_recv(ws, event(1, acme.camera.id, event_id="ev-readonly-1"))
        await ws.disconnect()
        return reply

    reply = async_to_sync(run)()
    assert reply["results"][0]["status"] == "ok", reply
    with tenant_scope(acme.tenant.id):
        alert = Alert.objects.get(event_id="ev-readonly-1")
    acked = client_for(acme.users["olga"]).post(f"/api/v1/alerts/{alert.id}/acknowledge/", {"reason": "investigating"},
                                                format="json")
    assert acked.status_code == 200, acked.content
