"""PostgreSQL only: the trigger refuses UPDATE and DELETE on the audit tables even in raw SQL, and
concurrent writers of one tenant never fork the chain (the chain head row is locked).

Skipped on SQLite: the trigger is created by a vendor-conditional migration on PostgreSQL only
(SQLite relies on the model layer's refusal, tested in test_audit_record.py), and SQLite's
IMMEDIATE transactions serialize writers by locking the whole database instead.
"""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, connections, transaction

from compliance.audit import GENESIS_HASH, audit_record, entry_body, entry_hash
from compliance.models import AuditEntry
from tenants.scope import tenant_scope

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: the append-only trigger and row locks exist there (DATABASE_URL=postgres://...)",
)


@pytest.mark.parametrize("statement", [
    "UPDATE compliance_auditentry SET action = 'x'", "DELETE FROM compliance_auditentry",
    "UPDATE compliance_auditcheckpoint SET key_id = 'x'", "DELETE FROM compliance_auditcheckpoint"])
def test_trigger_refuses_update_and_delete(acme, statement):  # noqa: ANN001
    from compliance.audit_signing import checkpoint_create

    audit_record(tenant_id=acme.tenant.id, action="test.keep")
    checkpoint_create(tenant_id=acme.tenant.id)
    with pytest.raises(DatabaseError, match="audit log is append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute(statement)
    with tenant_scope(acme.tenant.id):
        assert AuditEntry.objects.filter(action="test.keep").count() == 1  # positive control: still there


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(acme):  # noqa: ANN001
    writers, per_writer = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    audit_record(tenant_id=acme.tenant.id, action="test.concurrent", writer=n, i=i)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with tenant_scope(acme.tenant.id):
        chain = list(AuditEntry.objects.order_by("seq"))
    assert [e.seq for e in chain] == list(range(1, writers * per_writer + 1))
    previous = GENESIS_HASH
    for entry in chain:
        assert entry.prev_hash == previous and entry.hash == entry_hash(entry_body(entry))
        previous = entry.hash
