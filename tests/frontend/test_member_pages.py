"""/members/ (members and roles), /account/security/ (TOTP set-up), the two-step login and the
tenant rule "owners and admins need a second factor", through HTTP."""

from __future__ import annotations

import re
import time
from base64 import b32decode

import pytest
from django.test import Client
from django_otp.oath import totp

from tenants.models import Invitation, Membership, Role
from tenants.scope import tenant_scope

PASSWORD = "pw-123456!"


def login(world, username) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(world.users[username])
    return client


def membership(world, username) -> Membership:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return Membership.objects.get(user=world.users[username])


# --- members page ------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["owen", "alice"])
def test_owners_and_admins_see_members_and_invitations(acme, username):  # noqa: ANN001
    response = login(acme, username).get("/members/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("alice", "olga", "carl", "vera", "owen"):
        assert f"<h3>{name} " in html
    assert "new@acme.example" in html and "Acme Retail Berlin" in html


@pytest.mark.parametrize("username", ["olga", "carl", "vera"])
def test_other_roles_are_refused_with_a_403_that_says_why(acme, username):  # noqa: ANN001
    response = login(acme, username).get("/members/")
    assert response.status_code == 403
    assert "does not allow managing members" in response.content.decode()
    assert "<h3>alice" not in response.content.decode()


def test_admin_changes_a_role_and_limits_a_member_to_one_site(acme):  # noqa: ANN001
    vera = membership(acme, "vera")
    client = login(acme, "alice")
    response = client.post(f"/members/{vera.id}/update/", {"role": Role.OPERATOR, "site_ids": [acme.other_site.id]})
    assert response.status_code == 302
    page = client.get("/members/").content.decode()
    assert "vera is now operator with access to 1 site(s)." in page
    vera = membership(acme, "vera")
    assert (vera.role, vera.all_sites) == (Role.OPERATOR, False)
    vera_sees = login(acme, "vera").get("/kpis/").content.decode()
    assert "Dock" in vera_sees and ">Entrance<" not in vera_sees


def test_admin_cannot_change_an_owner_and_is_told_so(acme):  # noqa: ANN001
    owen = membership(acme, "owen")
    response = login(acme, "alice").post(f"/members/{owen.id}/update/", {"role": Role.VIEWER, "all_sites": "on"})
    assert response.status_code == 403
    assert "only an owner can change or remove an owner" in response.content.decode()
    assert membership(acme, "owen").role == Role.OWNER


def test_the_last_owner_cannot_step_down(acme):  # noqa: ANN001
    owen = membership(acme, "owen")
    response = login(acme, "owen").post(f"/members/{owen.id}/update/", {"role": Role.ADMIN, "all_sites": "on"})
    assert response.status_code == 400
    assert "a tenant must keep at least one owner" in response.content.decode()


def test_invite_then_withdraw(acme, mailoutbox, django_capture_on_commit_callbacks):  # noqa: ANN001
    client = login(acme, "alice")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/members/invite/", {"email": "Newbie@Example.com", "role": Role.OPERATOR})
    assert response.status_code == 302
    assert "Invitation sent to newbie@example.com (operator)." in client.get("/members/").content.decode()
    assert [m.to for m in mailoutbox] == [["newbie@example.com"]]
    with tenant_scope(acme.tenant.id):
        invitation = Invitation.objects.get(email="newbie@example.com")
    assert client.post(f"/members/invitations/{invitation.id}/withdraw/").status_code == 302
    with tenant_scope(acme.tenant.id):
        assert not Invitation.objects.filter(id=invitation.id).exists()


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"email": "x@example.com", "role": Role.OWNER}, 403, "only an owner can invite an owner"),
    ({"email": "not-an-email", "role": Role.VIEWER}, 400, "&#x27;not-an-email&#x27; is not an email address"),
    ({"email": "x@example.com", "role": "boss"}, 400, "unknown role &#x27;boss&#x27;"),
])
def test_bad_invitations_are_refused_with_the_reason(acme, data, status, message):  # noqa: ANN001
    response = login(acme, "alice").post("/members/invite/", data)
    assert response.status_code == status
    assert message in response.content.decode()


def test_admin_removes_a_member(acme):  # noqa: ANN001
    carl = membership(acme, "carl")
    assert login(acme, "alice").post(f"/members/{carl.id}/remove/").status_code == 302
    with tenant_scope(acme.tenant.id):
        assert not Membership.objects.filter(id=carl.id).exists()


def test_another_tenants_member_is_404_and_stays(acme, globex):  # noqa: ANN001
    mallory = membership(globex, "mallory")
    client = login(acme, "owen")
    assert client.post(f"/members/{mallory.id}/update/", {"role": Role.VIEWER}).status_code == 404
    assert client.post(f"/members/{mallory.id}/remove/").status_code == 404
    assert membership(globex, "mallory").role == Role.ADMIN


def test_operator_cannot_post_member_changes(acme):  # noqa: ANN001
    vera = membership(acme, "vera")
    response = login(acme, "olga").post(f"/members/{vera.id}/remove/")
    assert response.status_code == 403
    assert membership(acme, "vera").role == Role.VIEWER


# --- TOTP: set-up, login, tenant rule ----------------------------------------------------------

def code_for(secret_text: str, *, ahead: int = 0) -> str:
    key = b32decode(secret_text.replace(" ", "") + "=" * (-len(secret_text.replace(" ", "")) % 8))
    return f"{totp(key, t0=-ahead * 30):06d}"  # t0 shifted back: the code of a later time step


def set_up_totp(client: Client) -> str:
    page = client.get("/account/security/").content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1)
    assert re.search(r"otpauth://totp/[^<]+secret=" + secret.replace(" ", ""), page)
    response = client.post("/account/security/", {"action": "confirm", "otp_token": code_for(secret)})
    assert response.status_code == 302
    return secret


def test_totp_set_up_then_login_asks_for_the_code(acme):  # noqa: ANN001
    secret = set_up_totp(login(acme, "olga"))
    client = Client()
    step1 = client.post("/login/", {"username": "olga", "password": PASSWORD})
    assert step1.status_code == 200 and 'name="otp_token"' in step1.content.decode()
    assert client.get("/api/v1/me/").status_code in (401, 403)  # not signed in yet
    right = client.post("/login/", {"otp_token": code_for(secret, ahead=1)})  # the set-up used this step's code
    assert right.status_code == 302
    assert client.get("/api/v1/me/").json()["username"] == "olga"


def test_a_wrong_login_code_is_refused_and_the_next_try_is_throttled(acme):  # noqa: ANN001
    secret = set_up_totp(login(acme, "olga"))
    client = Client()
    client.post("/login/", {"username": "olga", "password": PASSWORD})
    good = {code_for(secret, ahead=n) for n in (-1, 0, 1, 2)}
    bad = next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in good)
    wrong = client.post("/login/", {"otp_token": bad})
    assert wrong.status_code == 400 and "that code is not right" in wrong.content.decode()
    again = client.post("/login/", {"otp_token": code_for(secret, ahead=1)})
    assert again.status_code == 400 and "too many wrong codes" in again.content.decode()
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_login_without_a_device_needs_only_the_password(acme):  # noqa: ANN001
    client = Client()
    assert client.post("/login/", {"username": "olga", "password": PASSWORD}).status_code == 302
    assert client.get("/api/v1/me/").json()["username"] == "olga"


def test_a_wrong_code_at_set_up_is_refused(acme):  # noqa: ANN001
    client = login(acme, "olga")
    client.get("/account/security/")
    response = client.post("/account/security/", {"action": "confirm", "otp_token": "12"})
    assert response.status_code == 400 and "enter the 6-digit code" in response.content.decode()


def test_the_code_step_expires(acme, monkeypatch):  # noqa: ANN001
    secret = set_up_totp(login(acme, "olga"))
    client = Client()
    client.post("/login/", {"username": "olga", "password": PASSWORD})
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.post("/login/", {"otp_token": code_for(secret, ahead=1)})
    assert response.status_code == 400 and "took too long" in response.content.decode()


@pytest.fixture
def owen(acme) -> Client:  # noqa: ANN001
    """The owner, signed in with his own second factor (needed to require one)."""
    client = login(acme, "owen")
    set_up_totp(client)
    return client


def require_2fa(owen: Client, on: bool = True) -> None:
    data = {"require_2fa_for_managers": "on"} if on else {}
    assert owen.post("/members/security/", data).status_code == 302


def test_requiring_2fa_needs_your_own_second_factor_first(acme):  # noqa: ANN001
    response = login(acme, "owen").post("/members/security/", {"require_2fa_for_managers": "on"})
    assert response.status_code == 400
    assert "set up your own second factor at /account/security/ before requiring it" in response.content.decode()
    acme.tenant.refresh_from_db()
    assert acme.tenant.require_2fa_for_managers is False


def test_tenant_rule_sends_admins_to_set_up_and_refuses_their_session_api(acme, owen):  # noqa: ANN001
    from tenants.services import api_token_create

    require_2fa(owen)
    alice = Client()
    alice.post("/login/", {"username": "alice", "password": PASSWORD})
    response = alice.get("/alerts/")
    assert response.status_code == 302 and response["Location"].startswith("/account/security/?required=1")
    assert "requires a second factor" in alice.get("/account/security/").content.decode()
    api = alice.get("/api/v1/sites/")
    assert api.status_code == 403 and "requires a second factor for owners and admins" in api.json()["detail"]
    _, secret = api_token_create(user=acme.users["alice"], name="ci")
    assert Client().get("/api/v1/sites/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    # operators are not concerned
    olga = Client()
    olga.post("/login/", {"username": "olga", "password": PASSWORD})
    assert olga.get("/kpis/").status_code == 200 and olga.get("/api/v1/sites/").status_code == 200
    # once alice confirms a device, this session is verified: pages and the session API work
    set_up_totp(alice)
    assert alice.get("/kpis/").status_code == 200
    assert alice.get("/api/v1/sites/").status_code == 200


def test_the_rule_is_off_again_when_the_owner_turns_it_off(acme, owen):  # noqa: ANN001
    require_2fa(owen)
    assert login(acme, "alice").get("/kpis/").status_code == 302
    require_2fa(owen, on=False)
    alice = login(acme, "alice")
    assert alice.get("/kpis/").status_code == 200


def test_a_device_cannot_be_removed_while_the_tenant_requires_it(acme, owen):  # noqa: ANN001
    client = login(acme, "alice")
    secret = set_up_totp(client)
    require_2fa(owen)
    response = client.post("/account/security/", {"action": "remove", "otp_token": code_for(secret, ahead=1)})
    assert response.status_code == 403 and "cannot be removed" in response.content.decode()
    require_2fa(owen, on=False)
    response = client.post("/account/security/", {"action": "remove", "otp_token": code_for(secret, ahead=1)})
    assert response.status_code == 302
    assert "Off." in client.get("/account/security/").content.decode()


def test_only_owners_and_admins_set_the_rule(acme):  # noqa: ANN001
    response = login(acme, "carl").post("/members/security/", {"require_2fa_for_managers": "on"})
    assert response.status_code == 403
    acme.tenant.refresh_from_db()
    assert acme.tenant.require_2fa_for_managers is False
