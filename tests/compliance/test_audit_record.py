"""audit_record(): one hash-chained entry per call, in the caller's transaction, append-only."""

from __future__ import annotations

import pytest
from django.db import transaction

from compliance.audit import GENESIS_HASH, audit_record, entry_body, entry_hash
from compliance.models import AppendOnlyError, AuditEntry
from tenants.models import Site
from tenants.scope import TenantScopeError, tenant_scope


def entries(world):  # noqa: ANN001, ANN201
    with tenant_scope(world.tenant.id):
        return list(AuditEntry.objects.order_by("seq"))


def test_entries_chain_per_tenant(acme, globex):  # noqa: ANN001
    before = len(entries(acme))
    first = audit_record(tenant_id=acme.tenant.id, action="test.one", actor=acme.users["alice"],
                         target=acme.site, before={"name": "a"}, after={"name": "b"}, ip="10.0.0.1", reason="x")
    second = audit_record(tenant_id=acme.tenant.id, action="test.two")
    audit_record(tenant_id=globex.tenant.id, action="test.other")
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash
    stored = entries(acme)
    assert len(stored) == before + 2
    assert stored[0].prev_hash == GENESIS_HASH and stored[0].seq == 1
    for entry in stored:
        assert entry.hash == entry_hash(entry_body(entry))  # what was stored hashes to what was computed
    row = stored[-2]
    assert (row.actor, row.actor_id, row.target_type, row.target_id, row.ip, row.extra) == (
        "alice", acme.users["alice"].pk, "tenants.site", str(acme.site.pk), "10.0.0.1", {"reason": "x"})
    assert entries(globex)[-1].prev_hash != first.hash  # separate chains


def test_rolled_back_change_leaves_no_entry(acme):  # noqa: ANN001
    count = len(entries(acme))
    with pytest.raises(RuntimeError), transaction.atomic(), tenant_scope(acme.tenant.id):
        Site.objects.create(name="Doomed", jurisdiction="DE")
        audit_record(tenant_id=acme.tenant.id, action="site.create")
        raise RuntimeError("the change fails after its audit entry")
    assert len(entries(acme)) == count
    with tenant_scope(acme.tenant.id):
        assert not Site.objects.filter(name="Doomed").exists()
    kept = audit_record(tenant_id=acme.tenant.id, action="after.rollback")
    assert kept.seq == count + 1  # the rolled-back seq is reused: no gap in the chain


def test_rows_cannot_be_changed_or_removed(acme):  # noqa: ANN001
    entry = audit_record(tenant_id=acme.tenant.id, action="test.keep")
    entry.action = "test.edited"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with tenant_scope(acme.tenant.id):
        with pytest.raises(AppendOnlyError):
            AuditEntry.objects.filter(pk=entry.pk).update(action="test.edited")
        with pytest.raises(AppendOnlyError):
            AuditEntry.objects.filter(pk=entry.pk).delete()
        assert AuditEntry.objects.get(pk=entry.pk).action == "test.keep"


def test_recording_into_another_tenant_inside_a_scope_is_refused(acme, globex):  # noqa: ANN001
    with tenant_scope(acme.tenant.id), pytest.raises(TenantScopeError):
        audit_record(tenant_id=globex.tenant.id, action="test.cross")
