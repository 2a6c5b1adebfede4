"""Failed-login lockout (django-axes): 5 wrong passwords lock one (username, IP) pair for 15
minutes, on the portal's /login/ and on /admin/login/; the page says when to retry.

olga (acme operator, password "pw-123456!") is the one being guessed; alice is another user.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

PASSWORD = "pw-123456!"
LIMIT = 5


def from_ip(ip: str) -> Client:
    return Client(REMOTE_ADDR=ip)


def fail(client: Client, username: str, times: int, url: str = "/login/") -> list[int]:
    return [client.post(url, {"username": username, "password": f"wrong-{i}"}).status_code for i in range(times)]


def signed_in_as(client: Client) -> str | None:
    response = client.get("/api/v1/me/")
    return response.json()["username"] if response.status_code == 200 else None


@pytest.fixture
def olga(acme):  # noqa: ANN001, ANN201
    return acme.users["olga"]


def test_fifth_wrong_password_locks_the_account_and_the_right_one_is_then_refused(olga):  # noqa: ANN001
    client = from_ip("10.0.0.1")
    assert fail(client, "olga", LIMIT) == [200, 200, 200, 200, 429]

    response = client.post("/login/", {"username": "olga", "password": PASSWORD})
    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in temporarily locked" in page
    assert "<strong>olga</strong>" in page and "is locked for 15 minutes" in page
    retry_at = AccessAttempt.objects.get(username="olga").attempt_time + timedelta(minutes=15)
    assert f"Try again after {retry_at:%Y-%m-%d %H:%M} UTC" in page
    assert signed_in_as(client) is None


def test_attempts_while_locked_do_not_move_the_retry_time(olga):  # noqa: ANN001
    client = from_ip("10.0.0.1")
    fail(client, "olga", LIMIT)
    first = AccessAttempt.objects.get(username="olga")
    assert fail(client, "olga", 3) == [429, 429, 429]
    again = AccessAttempt.objects.get(username="olga")
    assert (again.attempt_time, again.failures_since_start) == (first.attempt_time, LIMIT)


def test_fewer_failures_then_the_right_password_signs_in_and_resets_the_count(olga):  # noqa: ANN001
    client = from_ip("10.0.0.1")
    assert fail(client, "olga", LIMIT - 1) == [200] * (LIMIT - 1)
    response = client.post("/login/", {"username": "olga", "password": PASSWORD})
    assert response.status_code == 302
    assert signed_in_as(client) == "olga"
    assert not AccessAttempt.objects.filter(username="olga").exists()  # AXES_RESET_ON_SUCCESS

    later = from_ip("10.0.0.1")  # a fresh count: four more failures still do not lock
    assert fail(later, "olga", LIMIT - 1) == [200] * (LIMIT - 1)
    assert later.post("/login/", {"username": "olga", "password": PASSWORD}).status_code == 302


def test_lockout_is_for_one_username_from_one_address(acme, olga):  # noqa: ANN001
    fail(from_ip("10.0.0.1"), "olga", LIMIT)

    elsewhere = from_ip("10.0.0.2")  # the same user from another address
    assert elsewhere.post("/login/", {"username": "olga", "password": PASSWORD}).status_code == 302
    assert signed_in_as(elsewhere) == "olga"

    colleague = from_ip("10.0.0.1")  # another user from the locked address
    assert colleague.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert signed_in_as(colleague) == "alice"


def test_lockout_ends_after_the_cool_off(olga):  # noqa: ANN001
    client = from_ip("10.0.0.1")
    fail(client, "olga", LIMIT)
    assert client.post("/login/", {"username": "olga", "password": PASSWORD}).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert client.post("/login/", {"username": "olga", "password": PASSWORD}).status_code == 302


def test_unknown_usernames_are_locked_out_the_same_way(db):  # noqa: ANN001
    assert fail(from_ip("10.0.0.1"), "nobody", LIMIT) == [200, 200, 200, 200, 429]


def test_admin_login_is_locked_out_too(db):  # noqa: ANN001
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client = from_ip("10.0.0.9")
    assert fail(client, "root", LIMIT, url="/admin/login/") == [200, 200, 200, 200, 429]
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert "Try again after" in response.content.decode()

    other = from_ip("10.0.0.10")  # control: the right password from another address signs in
    assert other.post("/admin/login/", {"username": "root", "password": PASSWORD}).status_code == 302
    assert other.get("/admin/").status_code == 200


def test_failures_on_the_portal_and_the_admin_count_together(olga):  # noqa: ANN001
    client = from_ip("10.0.0.1")
    fail(client, "olga", 3, url="/login/")
    assert fail(client, "olga", 2, url="/admin/login/") == [200, 429]
    assert client.post("/login/", {"username": "olga", "password": PASSWORD}).status_code == 429
