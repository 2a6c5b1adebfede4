"""/billing/webhook/: Stripe's signature checked by stripe-python, each event processed exactly once."""

from __future__ import annotations

import json
import time

from compliance.models import AuditEntry
from tenants.billing.models import BillingEvent
from tenants.scope import tenant_scope
from tests.billing.conftest import account_of, deliver, invoice, stripe_event, subscription


def billing_audit(world) -> list:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return list(AuditEntry.objects.filter(action__startswith="billing.").values_list("action", flat=True))


def test_a_bad_signature_is_400_and_changes_nothing(acme, billing):  # noqa: ANN001
    event = stripe_event("evt_1", "customer.subscription.created", subscription("sub_1", tenant_id=acme.tenant.id))
    response = deliver(event, "whsec_not_the_endpoint_secret")
    assert response.status_code == 400
    assert "signature verification failed" in response.json()["Stripe-Signature"][0]
    assert not BillingEvent.objects.exists() and billing_audit(acme) == []
    assert deliver(event, billing.secret).status_code == 200  # positive control: the right secret


def test_a_tampered_body_is_400(acme, billing):  # noqa: ANN001
    payload = json.dumps(stripe_event("evt_1", "invoice.paid", invoice())).encode()
    from tests.billing.stripe_stub import sign

    header = sign(payload, billing.secret)
    response = deliver(payload.replace(b"invoice.paid", b"invoice.payment_failed"), billing.secret, signature=header)
    assert response.status_code == 400 and not BillingEvent.objects.exists()


def test_a_stale_timestamp_is_refused_as_a_replay(acme, billing):  # noqa: ANN001
    event = stripe_event("evt_1", "customer.subscription.created", subscription("sub_1", tenant_id=acme.tenant.id))
    response = deliver(event, billing.secret, timestamp=int(time.time()) - 3600)
    assert response.status_code == 400
    assert "tolerance" in response.json()["Stripe-Signature"][0]
    assert not BillingEvent.objects.exists()


def test_missing_signature_and_non_json_body_are_400(acme, billing):  # noqa: ANN001
    event = stripe_event("evt_1", "invoice.paid", invoice())
    assert deliver(event, billing.secret, signature="").json() == {"Stripe-Signature": ["missing Stripe-Signature header"]}
    response = deliver(b"not json", billing.secret)
    assert response.status_code == 400 and "not a JSON Stripe event" in response.json()["body"][0]


def test_an_unknown_event_type_is_acknowledged_and_recorded_but_changes_nothing(acme, billing):  # noqa: ANN001
    response = deliver(stripe_event("evt_x", "customer.created", {"id": "cus_9", "object": "customer"}), billing.secret)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored: event type not handled"
    assert BillingEvent.objects.get().event_id == "evt_x" and billing_audit(acme) == []


def test_a_duplicate_delivery_is_a_no_op(acme, billing):  # noqa: ANN001
    event = stripe_event("evt_1", "customer.subscription.created", subscription("sub_1", tenant_id=acme.tenant.id))
    first = deliver(event, billing.secret)
    assert first.status_code == 200 and "starter active" in first.json()["outcome"]
    assert billing_audit(acme) == ["billing.customer.subscription.created"]
    again = deliver(event, billing.secret)  # a retry by Stripe, or a replay within the tolerance
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate: already processed"
    assert billing_audit(acme) == ["billing.customer.subscription.created"]
    assert BillingEvent.objects.count() == 1


def test_out_of_order_events_do_not_move_state_backwards(acme, billing):  # noqa: ANN001
    tid = acme.tenant.id
    newer = stripe_event("evt_2", "customer.subscription.updated",
                         subscription("sub_1", tenant_id=tid, price="price_pro"), created=1_800_000_200)
    older = stripe_event("evt_1", "customer.subscription.created",
                         subscription("sub_1", tenant_id=tid, status="incomplete"), created=1_800_000_100)
    assert deliver(newer, billing.secret).status_code == 200
    response = deliver(older, billing.secret)
    assert response.status_code == 200 and response.json()["outcome"].startswith("stale")
    account = account_of(acme)
    assert (account.plan, account.status) == ("pro", "active")
    # payment events too: a late failure notice older than the payment does not start a grace period
    assert deliver(stripe_event("evt_4", "invoice.paid", invoice(), created=1_800_000_400), billing.secret).status_code == 200
    late = deliver(stripe_event("evt_3", "invoice.payment_failed", invoice(), created=1_800_000_300), billing.secret)
    assert late.json()["outcome"].startswith("stale")
    assert account_of(acme).payment_failed_at is None


def test_every_handled_event_changes_state_with_an_audit_entry(acme, billing):  # noqa: ANN001
    tid = acme.tenant.id
    billing.stub.add_subscription("sub_1", customer="cus_1", price="price_starter", quantity=2, tenant_id=tid)
    steps = [
        ("checkout.session.completed", {"id": "cs_1", "object": "checkout.session", "mode": "subscription",
                                        "customer": "cus_1", "subscription": "sub_1", "client_reference_id": str(tid)},
         ("starter", "active")),
        ("invoice.payment_failed", invoice(), ("starter", "past_due")),
        ("invoice.paid", invoice(), ("starter", "active")),
        ("customer.subscription.updated", subscription("sub_1", tenant_id=tid, price="price_pro"), ("pro", "active")),
        ("customer.subscription.deleted", subscription("sub_1", tenant_id=tid, status="canceled"), ("", "canceled")),
    ]
    for n, (etype, obj, expected) in enumerate(steps):
        response = deliver(stripe_event(f"evt_{n}", etype, obj, created=1_800_000_000 + n), billing.secret)
        assert response.status_code == 200, response.content
        account = account_of(acme)
        assert (account.plan, account.status) == expected, (etype, response.json())
    assert billing_audit(acme) == [f"billing.{etype}" for etype, _, _ in steps]
    assert account.stripe_customer_id == "cus_1"


def test_an_event_for_no_known_tenant_is_recorded_and_ignored(acme, billing):  # noqa: ANN001
    sub = subscription("sub_9", tenant_id=acme.tenant.id, customer="cus_9")
    sub["metadata"] = {}
    response = deliver(stripe_event("evt_9", "customer.subscription.created", sub), billing.secret)
    assert response.status_code == 200 and response.json()["outcome"].startswith("ignored: no tenant")


def test_webhook_without_a_configured_secret_is_409(acme, settings):  # noqa: ANN001
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = deliver(stripe_event("evt_1", "invoice.paid", invoice()), "whsec_any")
    assert response.status_code == 409 and "STRIPE_WEBHOOK_SECRET" in response.json()["detail"]
