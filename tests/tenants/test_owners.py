"""Owners: only an owner grants, changes or removes the owner role; the last owner stays.

Each refusal is paired with the same request by an owner, which succeeds.
"""

from __future__ import annotations

from django.core import mail
from django.core.management import call_command

from tenants.models import Membership, Role, Tenant
from tenants.scope import tenant_scope
from tests.conftest import client_for


def membership_of(world, username: str) -> Membership:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return Membership.objects.get(user=world.users[username])


def role_of(world, username: str) -> str:  # noqa: ANN001
    return membership_of(world, username).role


def test_admin_cannot_invite_an_owner_but_an_owner_can(acme, django_capture_on_commit_callbacks):  # noqa: ANN001
    refused = client_for(acme.users["alice"]).post("/api/v1/invitations/", {"email": "boss@x.example", "role": "owner"})
    assert refused.status_code == 403
    assert "only an owner can invite an owner" in refused.json()["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        allowed = client_for(acme.users["owen"]).post("/api/v1/invitations/", {"email": "boss@x.example", "role": "owner"})
    assert allowed.status_code == 201, allowed.content
    assert [m.to for m in mail.outbox] == [["boss@x.example"]]


def test_admin_cannot_promote_themself_to_owner_but_an_owner_can_promote_them(acme):  # noqa: ANN001
    alice = membership_of(acme, "alice")
    refused = client_for(acme.users["alice"]).patch(f"/api/v1/memberships/{alice.id}/", {"role": "owner"})
    assert refused.status_code == 403
    assert "only an owner can grant the owner role" in refused.json()["detail"]
    assert role_of(acme, "alice") == Role.ADMIN
    allowed = client_for(acme.users["owen"]).patch(f"/api/v1/memberships/{alice.id}/", {"role": "owner"})
    assert allowed.status_code == 200, allowed.content
    assert role_of(acme, "alice") == Role.OWNER


def test_admin_cannot_demote_or_delete_an_owner(acme):  # noqa: ANN001
    owen = membership_of(acme, "owen")
    alice = client_for(acme.users["alice"])
    demote = alice.patch(f"/api/v1/memberships/{owen.id}/", {"role": "viewer"})
    assert demote.status_code == 403 and "only an owner can change or remove an owner" in demote.json()["detail"]
    restrict = alice.patch(f"/api/v1/memberships/{owen.id}/", {"all_sites": False})
    assert restrict.status_code == 403
    delete = alice.delete(f"/api/v1/memberships/{owen.id}/")
    assert delete.status_code == 403
    assert role_of(acme, "owen") == Role.OWNER and membership_of(acme, "owen").all_sites
    # positive control: the admin may change a non-owner, and a second owner may remove the first
    assert alice.patch(f"/api/v1/memberships/{membership_of(acme, 'vera').id}/", {"role": "operator"}).status_code == 200
    second = acme.add("olivia", Role.OWNER)
    assert client_for(second).delete(f"/api/v1/memberships/{owen.id}/").status_code == 204
    with tenant_scope(acme.tenant.id):
        assert not Membership.objects.filter(id=owen.id).exists()


def test_last_owner_cannot_leave_or_step_down_until_another_owner_exists(acme):  # noqa: ANN001
    owen = membership_of(acme, "owen")
    client = client_for(acme.users["owen"])
    assert client.delete(f"/api/v1/memberships/{owen.id}/").status_code == 400
    step_down = client.patch(f"/api/v1/memberships/{owen.id}/", {"role": "admin"})
    assert step_down.status_code == 400 and "at least one owner" in step_down.json()["role"][0]
    assert client.patch(f"/api/v1/memberships/{membership_of(acme, 'alice').id}/", {"role": "owner"}).status_code == 200
    assert client.patch(f"/api/v1/memberships/{owen.id}/", {"role": "admin"}).status_code == 200
    assert role_of(acme, "owen") == Role.ADMIN


def test_the_demo_tenant_has_an_owner(db, capsys):  # noqa: ANN001
    call_command("seed_demo")
    tenant = Tenant.objects.get(slug="acme-retail")
    with tenant_scope(tenant.id):
        owners = list(Membership.objects.filter(role=Role.OWNER).values_list("user__username", flat=True))
    assert owners == ["owen"]
    assert "user owen" in capsys.readouterr().out
