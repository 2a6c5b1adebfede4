"""Where /login/ sends a user who asked for no particular page: an operator to the alert wall
(that is their work), every other role to the home page; a safe ?next= wins for everyone."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Membership, Role
from tenants.scope import tenant_scope
from tests.frontend.test_member_pages import PASSWORD, code_for, login, set_up_totp

pytestmark = pytest.mark.django_db


def signed_in_to(username: str, **extra: str) -> str:
    response = Client().post("/login/", {"username": username, "password": PASSWORD, **extra})
    assert response.status_code == 302, response.content.decode()[:300]
    return response["Location"]


def test_an_operator_lands_on_the_alert_wall(acme):  # noqa: ANN001
    assert signed_in_to("olga") == "/alerts/"


@pytest.mark.parametrize("username", ["alice", "owen", "carl", "vera"])
def test_other_roles_keep_the_home_page(acme, username):  # noqa: ANN001
    assert signed_in_to(username) == "/"


def test_a_safe_next_wins_over_the_landing_page_and_an_unsafe_one_does_not(acme):  # noqa: ANN001
    assert signed_in_to("olga", next="/cameras/") == "/cameras/"
    assert signed_in_to("olga", next="https://evil.example/") == "/alerts/"


def test_opening_the_portals_address_signed_out_still_lands_an_operator_on_the_wall(acme):  # noqa: ANN001
    client = Client()
    to_login = client.get("/")
    assert to_login.status_code == 302 and to_login["Location"] == "/login/?next=/"
    response = client.post("/login/?next=/", {"username": "olga", "password": PASSWORD, "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/alerts/"
    assert signed_in_to("alice", next="/") == "/"


def test_an_operator_with_a_second_factor_lands_on_the_wall_after_the_code(acme):  # noqa: ANN001
    secret = set_up_totp(login(acme, "olga"))
    client = Client()
    assert client.post("/login/", {"username": "olga", "password": PASSWORD}).status_code == 200  # asks the code
    response = client.post("/login/", {"otp_token": code_for(secret, ahead=1)})
    assert response.status_code == 302 and response["Location"] == "/alerts/"
    assert client.get("/alerts/").status_code == 200


def test_the_landing_follows_the_role_in_the_tenant_the_session_opens(acme, globex):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):  # mallory: admin at globex, and since later an operator at acme
        Membership.objects.create(user=globex.users["mallory"], role=Role.OPERATOR)
    assert signed_in_to("mallory") == "/"  # the session opens her first membership: globex, as admin
    globex.add("gus", Role.OPERATOR)
    with tenant_scope(acme.tenant.id):
        Membership.objects.create(user=globex.users["gus"], role=Role.ADMIN)
    assert signed_in_to("gus") == "/alerts/"  # first membership: operator at globex
