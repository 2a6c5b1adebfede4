from __future__ import annotations

from django.core import mail

from tenants.models import Membership
from tenants.scope import tenant_scope
from tests.conftest import client_for, make_user


def test_admin_invites_by_email_and_invitee_joins_with_the_role(acme, django_capture_on_commit_callbacks):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post("/api/v1/invitations/", {"email": "Nina@Example.com", "role": "operator"})
    assert response.status_code == 201, response.content
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nina@example.com"]
    token = mail.outbox[0].body.split("/invite/")[1].split("/")[0]

    nina = make_user("nina")
    joined = client_for(nina).post("/api/v1/invitations/accept/", {"token": token})
    assert joined.status_code == 201, joined.content
    assert joined.json()["role"] == "operator"
    with tenant_scope(acme.tenant.id):
        assert Membership.objects.get(user=nina).role == "operator"
    again = client_for(make_user("nora")).post("/api/v1/invitations/accept/", {"token": token})
    assert again.status_code == 404


def test_new_tenant_makes_the_creator_its_owner(acme):  # noqa: ANN001
    vera = client_for(acme.users["vera"])
    response = vera.post("/api/v1/tenants/", {"name": "Vera's Shop", "slug": "veras-shop", "data_region": "us"})
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "owner"
    me = vera.get("/api/v1/me/").json()
    assert {m["tenant"] for m in me["memberships"]} == {"acme", "veras-shop"}
