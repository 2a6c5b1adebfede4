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


def invite(acme, capture, email: str, role: str = "operator") -> str:  # noqa: ANN001
    """Alice invites ``email``; returns the token from the emailed link."""
    with capture(execute=True):
        response = client_for(acme.users["alice"]).post("/api/v1/invitations/", {"email": email, "role": role})
    assert response.status_code == 201, response.content
    return mail.outbox[-1].body.split("/invite/")[1].split("/")[0]


def test_invitation_is_refused_to_a_user_with_another_email(acme, django_capture_on_commit_callbacks):  # noqa: ANN001
    token = invite(acme, django_capture_on_commit_callbacks, "nina@example.com")
    mallory = make_user("mallory2")  # mallory2@example.com holds the token, but it is not hers
    refused = client_for(mallory).post("/api/v1/invitations/accept/", {"token": token})
    assert refused.status_code == 403
    assert "different email address" in refused.json()["detail"]
    with tenant_scope(acme.tenant.id):
        assert not Membership.objects.filter(user=mallory).exists()
    # positive control: the invited user (email differs only in case) accepts with the same token
    nina = make_user("nina")
    nina.email = "NINA@example.com"
    nina.save()
    assert client_for(nina).post("/api/v1/invitations/accept/", {"token": token}).status_code == 201


def test_expired_invitation_is_refused_with_its_date(acme, django_capture_on_commit_callbacks):  # noqa: ANN001
    from datetime import timedelta

    from django.utils import timezone

    from tenants.models import Invitation

    token = invite(acme, django_capture_on_commit_callbacks, "nina@example.com")
    with tenant_scope(acme.tenant.id):
        Invitation.objects.filter(token=token).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client_for(make_user("nina")).post("/api/v1/invitations/accept/", {"token": token})
    assert response.status_code == 404 and "expired on" in response.json()["detail"]


def test_emailed_link_lets_a_new_user_set_a_password_and_join(acme, django_capture_on_commit_callbacks):  # noqa: ANN001
    from django.test import Client

    token = invite(acme, django_capture_on_commit_callbacks, "Newbie@Example.com", role="viewer")
    link = mail.outbox[-1].body.split("Accept the invitation: ")[1].split()[0]
    assert link.endswith(f"/invite/{token}/")
    browser = Client()
    page = browser.get(f"/invite/{token}/")
    assert page.status_code == 200
    assert "Acme Retail" in page.content.decode() and 'name="password2"' in page.content.decode()

    mismatch = browser.post(f"/invite/{token}/", {"action": "join", "username": "newbie",
                                                  "password": "long-enough-pass-1", "password2": "other-pass-2"})
    assert mismatch.status_code == 400 and "the two passwords differ" in mismatch.content.decode()
    weak = browser.post(f"/invite/{token}/", {"action": "join", "username": "newbie",
                                              "password": "123", "password2": "123"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()

    joined = browser.post(f"/invite/{token}/", {"action": "join", "username": "newbie",
                                                "password": "long-enough-pass-1", "password2": "long-enough-pass-1"})
    assert joined.status_code == 302, joined.content
    home = browser.get("/").content.decode()
    assert "Acme Retail" in home and "Viewer" in home  # signed in, in the tenant, with the invited role
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="newbie").email == "newbie@example.com"
    used = Client().get(f"/invite/{token}/")
    assert used.status_code == 404 and "already been used" in used.content.decode()


def test_emailed_link_lets_the_invited_existing_user_accept_and_turns_others_away(
        acme, django_capture_on_commit_callbacks):  # noqa: ANN001
    from django.test import Client

    nina = make_user("nina")
    token = invite(acme, django_capture_on_commit_callbacks, "nina@example.com")
    anonymous = Client().get(f"/invite/{token}/").content.decode()
    assert "Sign in" in anonymous and 'name="password2"' not in anonymous  # no second account for nina

    other = Client()
    other.force_login(make_user("oscar"))
    assert other.get(f"/invite/{token}/").status_code == 403
    assert other.post(f"/invite/{token}/", {"action": "accept"}).status_code == 403

    browser = Client()
    browser.force_login(nina)
    assert "Join Acme Retail" in browser.get(f"/invite/{token}/").content.decode()
    assert browser.post(f"/invite/{token}/", {"action": "accept"}).status_code == 302
    with tenant_scope(acme.tenant.id):
        assert Membership.objects.get(user=nina).role == "operator"


def test_unknown_invitation_link_is_a_404_page(db):  # noqa: ANN001
    from django.test import Client

    page = Client().get("/invite/not-a-token/")
    assert page.status_code == 404 and "invitation not found" in page.content.decode()
