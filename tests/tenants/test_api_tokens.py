"""Personal API tokens: /api/v1/me/tokens/ and /account/tokens/, used as ``Authorization: Bearer``.

alice (acme admin) owns tokens; mallory (globex admin) "has no access to alice's stuff".
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.conftest import client_for

TOKENS = "/api/v1/me/tokens/"


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def alice(acme):  # noqa: ANN001, ANN201
    return acme.users["alice"]


@pytest.fixture
def mallory(globex):  # noqa: ANN001, ANN201
    return globex.users["mallory"]


@pytest.fixture
def alice_token(alice):  # noqa: ANN001, ANN201
    return api_token_create(user=alice, name="ci")  # (token, secret)


def test_created_token_is_shown_once_and_stored_only_hashed(alice):  # noqa: ANN001
    response = client_for(alice).post(TOKENS, {"name": "grafana"})
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    secret = body["token"]
    assert secret.startswith("vad_") and len(secret) > 40
    assert body["prefix"] == secret[:12] and body["expires_at"] is None and body["last_used_at"] is None

    stored = ApiToken.objects.get(id=body["id"])
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.name, stored.prefix, stored.secret_hash}

    listed = client_for(alice).get(TOKENS).json()["results"]
    assert [(row["id"], row["name"], row["prefix"]) for row in listed] == [(stored.id, "grafana", secret[:12])]
    assert "token" not in listed[0]


def test_bearer_token_authenticates_and_records_last_use(alice, alice_token):  # noqa: ANN001
    token, secret = alice_token
    response = bearer(secret).get("/api/v1/me/")
    assert response.status_code == 200, response.content
    assert response.json()["username"] == "alice"
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_bearer_token_works_in_the_tenant_named_by_x_tenant(acme, alice_token):  # noqa: ANN001
    _, secret = alice_token
    response = bearer(secret).get("/api/v1/sites/", HTTP_X_TENANT="acme")
    assert response.status_code == 200, response.content
    assert {row["name"] for row in response.json()["results"]} == {"Acme Retail HQ", "Acme Retail Berlin"}


def test_anonymous_api_call_is_401_with_a_bearer_challenge(db):  # noqa: ANN001
    response = APIClient().get("/api/v1/sites/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_unknown_token_is_401(db):  # noqa: ANN001
    response = bearer("vad_not-a-real-token").get("/api/v1/me/")
    assert response.status_code == 401
    assert "no such API token" in response.json()["detail"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_old_token_scheme_is_refused_with_what_to_send_instead(alice_token):  # noqa: ANN001
    _, secret = alice_token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "send 'Authorization: Bearer <token>'" in response.json()["detail"]


def test_expired_token_is_refused_with_when_it_expired(alice):  # noqa: ANN001
    token, secret = api_token_create(user=alice, name="short", expires_at=timezone.now() + timedelta(days=1))
    assert bearer(secret).get("/api/v1/me/").status_code == 200  # control: valid until it expires
    expired_at = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(id=token.id).update(expires_at=expired_at)

    response = bearer(secret).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["detail"] == f"API token {token.prefix}… expired on {expired_at:%Y-%m-%d %H:%M} UTC"
    assert client_for(alice).get(TOKENS).json()["results"][0]["expired"] is True


def test_revoked_token_is_refused_with_401_saying_so(alice, alice_token):  # noqa: ANN001
    token, secret = alice_token
    assert client_for(alice).delete(f"{TOKENS}{token.id}/").status_code == 204

    response = bearer(secret).get("/api/v1/me/")
    assert response.status_code == 401
    assert f"API token {token.prefix}… was revoked on" in response.json()["detail"]
    assert client_for(alice).get(TOKENS).json()["results"] == []
    assert client_for(alice).delete(f"{TOKENS}{token.id}/").status_code == 404  # already revoked


def test_token_of_a_deactivated_user_is_refused(alice, alice_token):  # noqa: ANN001
    _, secret = alice_token
    alice.is_active = False
    alice.save()
    response = bearer(secret).get("/api/v1/me/")
    assert response.status_code == 401
    assert "deactivated user" in response.json()["detail"]


def test_another_users_token_id_is_404_and_the_token_keeps_working(alice, alice_token, mallory):  # noqa: ANN001
    token, secret = alice_token
    response = client_for(mallory).delete(f"{TOKENS}{token.id}/")
    assert response.status_code == 404
    assert response.json()["detail"] == f"token {token.id} is not one of your active tokens"
    assert bearer(secret).get("/api/v1/me/").status_code == 200
    assert client_for(alice).delete(f"{TOKENS}{token.id}/").status_code == 204  # control: the owner may


def test_non_numeric_token_id_is_404(alice):  # noqa: ANN001
    assert client_for(alice).delete(f"{TOKENS}abc/").status_code == 404


def test_token_list_shows_only_the_callers_tokens(alice, alice_token, mallory):  # noqa: ANN001
    mine, _ = api_token_create(user=mallory, name="mallory-ci")
    rows = client_for(mallory).get(TOKENS).json()["results"]
    assert [row["id"] for row in rows] == [mine.id]


def test_a_token_cannot_create_tokens(alice, alice_token):  # noqa: ANN001
    _, secret = alice_token
    response = bearer(secret).post(TOKENS, {"name": "again"}, format="json")
    assert response.status_code == 403
    assert "an API token cannot create API tokens" in response.json()["detail"]
    assert bearer(secret).get(TOKENS).status_code == 200  # it may list them
    assert client_for(alice).post(TOKENS, {"name": "again"}).status_code == 201  # a session may create


def test_expiry_in_the_past_or_a_blank_name_is_400_naming_the_field(alice):  # noqa: ANN001
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client_for(alice).post(TOKENS, {"name": "old", "expires_at": past})
    assert response.status_code == 400
    assert "is not in the future" in response.json()["expires_at"][0]
    response = client_for(alice).post(TOKENS, {"name": "   "})
    assert response.status_code == 400 and "name" in response.json()
    assert not ApiToken.objects.exists()


def test_token_list_is_two_queries(alice, django_assert_num_queries):  # noqa: ANN001
    for name in ("a", "b", "c", "d"):
        api_token_create(user=alice, name=name)
    client = client_for(alice)
    with django_assert_num_queries(2 + 2):  # count + page, + SAVEPOINT/RELEASE of ATOMIC_REQUESTS
        assert len(client.get(TOKENS).json()["results"]) == 4


# --- portal: /account/tokens/ ----------------------------------------------------------------


def test_portal_creates_shows_the_secret_once_lists_and_revokes(alice):  # noqa: ANN001
    client = Client()
    client.force_login(alice)
    created = client.post("/account/tokens/", {"name": "laptop", "expires": "30"})
    assert created.status_code == 200
    token = ApiToken.objects.get(user=alice)
    secret = created.context["secret"]
    assert secret in created.content.decode()
    assert token.expires_at is not None and token.expires_at - timezone.now() > timedelta(days=29)
    assert "no-store" in created["Cache-Control"]

    page = client.get("/account/tokens/").content.decode()
    assert "laptop" in page and f"{token.prefix}…" in page and secret not in page
    assert bearer(secret).get("/api/v1/me/").status_code == 200

    revoked = client.post(f"/account/tokens/{token.id}/revoke/", follow=True)
    assert "is revoked" in revoked.content.decode()
    assert bearer(secret).get("/api/v1/me/").status_code == 401


def test_portal_blank_name_is_refused_with_the_form_error(alice):  # noqa: ANN001
    client = Client()
    client.force_login(alice)
    response = client.post("/account/tokens/", {"name": "", "expires": ""})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_portal_revoking_another_users_token_is_404(alice_token, mallory):  # noqa: ANN001
    token, secret = alice_token
    client = Client()
    client.force_login(mallory)
    assert client.post(f"/account/tokens/{token.id}/revoke/").status_code == 404
    assert "ci" not in client.get("/account/tokens/").context["tokens"].values_list("name", flat=True)
    assert bearer(secret).get("/api/v1/me/").status_code == 200


def test_portal_token_forms_need_the_csrf_token(alice):  # noqa: ANN001
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/account/tokens/", {"name": "x"}).status_code == 403
    page = client.get("/account/tokens/")
    csrf = page.context["csrf_token"]
    assert client.post("/account/tokens/", {"name": "x", "csrfmiddlewaretoken": csrf}).status_code == 200
    assert ApiToken.objects.filter(user=alice, name="x").exists()


def test_portal_tokens_page_needs_sign_in(db):  # noqa: ANN001
    response = Client().get("/account/tokens/")
    assert response.status_code == 302 and "/login/" in response["Location"]
