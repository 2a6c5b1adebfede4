"""PostgreSQL only: two deliveries of the same event at the same moment are processed once.

Skipped on SQLite: its IMMEDIATE transactions (settings) let only one writer in at a time, so the
two deliveries cannot overlap there and the test would prove nothing; on PostgreSQL the second
insert of the event id waits on the first's unique-index entry, then fails, and is a no-op.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from compliance.models import AuditEntry
from tenants.billing.models import BillingEvent
from tenants.scope import tenant_scope
from tests.billing.conftest import account_of, deliver, stripe_event, subscription

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: SQLite serializes writers, so two deliveries never overlap (DATABASE_URL=postgres://...)",
)


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_one_event_at_once_are_processed_once(acme, billing):  # noqa: ANN001
    event = stripe_event("evt_race", "customer.subscription.created", subscription("sub_1", tenant_id=acme.tenant.id))
    billing.stub.add_subscription("sub_1", customer="cus_1", price="price_starter", quantity=2,
                                  tenant_id=acme.tenant.id)  # read by the quantity sync after commit
    start = threading.Barrier(2)
    results: list[object] = []

    def post() -> None:
        try:
            start.wait()
            response = deliver(event, billing.secret)
            results.append((response.status_code, response.json()["outcome"]))
        except BaseException as err:  # noqa: BLE001 - reported below
            results.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results, key=str) == sorted([(200, "duplicate: already processed"),
                                               (200, "subscription sub_1: starter active")], key=str), results
    assert BillingEvent.objects.filter(event_id="evt_race").count() == 1
    with tenant_scope(acme.tenant.id):
        assert AuditEntry.objects.filter(action="billing.customer.subscription.created").count() == 1
    assert account_of(acme).status == "active"
