"""Edge enrollment: one-time tokens from the API (POST /api/v1/devices/{id}/enrollment/), the
platform endpoint POST /edge/enroll that registers a box's public key, and revocation
(POST /api/v1/devices/{id}/revoke/). Everything goes through HTTP."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import connection
from django.test import Client

from cameras.models import EdgeDevice, EnrollmentToken
from tests.conftest import client_for


def new_public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def enroll(token: str, public_key: str | None = None, **extra: object):  # noqa: ANN201
    body = {"token": token, "public_key": public_key or new_public_key(), "agent_version": "0.1.0",
            "hostname": "box-1.local", **extra}
    return Client().post("/edge/enroll", json.dumps(body), content_type="application/json")


def device(world) -> EdgeDevice:  # noqa: ANN001
    return EdgeDevice.unscoped_objects.get(id=world.device.id)


def token_for(world, user: str = "alice") -> dict:  # noqa: ANN001
    response = client_for(world.users[user]).post(f"/api/v1/devices/{world.device.id}/enrollment/")
    assert response.status_code == 201, response.content
    return response.json()


def test_admin_gets_a_one_time_token_and_an_install_command(acme, settings):  # noqa: ANN001
    settings.PORTAL_BASE_URL = "https://portal.example.com/"
    body = token_for(acme)
    secret = body["token"]
    assert len(secret) >= 40 and body["device"] == acme.device.id
    assert body["install_command"] == (f"curl -fsSL https://portal.example.com/edge/install.sh | sudo sh -s -- "
                                       f"--url https://portal.example.com --token {secret}")
    assert body["expires_at"]


def test_operator_may_not_create_a_token_but_an_admin_may(acme):  # noqa: ANN001
    refused = client_for(acme.users["olga"]).post(f"/api/v1/devices/{acme.device.id}/enrollment/")
    assert refused.status_code == 403
    assert EnrollmentToken.unscoped_objects.count() == 0
    assert client_for(acme.users["alice"]).post(f"/api/v1/devices/{acme.device.id}/enrollment/").status_code == 201


def test_admin_of_another_tenant_gets_404_for_the_device(acme, globex):  # noqa: ANN001
    response = client_for(globex.users["mallory"]).post(f"/api/v1/devices/{acme.device.id}/enrollment/")
    assert response.status_code == 404
    assert EnrollmentToken.unscoped_objects.count() == 0
    # positive control: mallory's own device
    assert client_for(globex.users["mallory"]).post(f"/api/v1/devices/{globex.device.id}/enrollment/").status_code == 201


def test_enrolling_stores_the_key_and_the_token_is_single_use(acme, settings):  # noqa: ANN001
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    secret = token_for(acme)["token"]
    key = new_public_key()
    ok = enroll(secret, key)
    assert ok.status_code == 200, ok.content
    body = ok.json()
    assert body["device_id"] == acme.device.id
    assert body["cloud_url"] == "http://127.0.0.1:8000" and body["ws_url"] == "ws://127.0.0.1:8000/ws/edge/"
    assert isinstance(body["config_keys"], dict)
    enrolled = device(acme)
    assert (enrolled.public_key, enrolled.status, enrolled.agent_version) == (key, "offline", "0.1.0")
    assert enrolled.enrolled_at is not None

    again = enroll(secret)
    assert again.status_code == 404 and "already used" in again.json()["detail"]
    assert device(acme).public_key == key  # the second attempt changed nothing


def test_unknown_token_is_404_saying_so(acme):  # noqa: ANN001
    response = enroll("x" * 43)
    assert response.status_code == 404 and "unknown enrollment token" in response.json()["detail"]


def test_expired_token_is_refused(acme, settings):  # noqa: ANN001
    settings.EDGE_ENROLLMENT_TTL_S = 0
    response = enroll(token_for(acme)["token"])
    assert response.status_code == 404 and "expired" in response.json()["detail"]
    assert device(acme).enrolled_at is None
    settings.EDGE_ENROLLMENT_TTL_S = 3600  # positive control
    assert enroll(token_for(acme)["token"]).status_code == 200


def test_a_new_token_ends_the_older_unused_one(acme):  # noqa: ANN001
    older, newer = token_for(acme)["token"], token_for(acme)["token"]
    refused = enroll(older)
    assert refused.status_code == 404 and "replaced" in refused.json()["detail"]
    assert enroll(newer).status_code == 200


def test_only_the_hash_of_the_token_is_stored(acme):  # noqa: ANN001
    import hashlib

    secret = token_for(acme)["token"]
    rows = 0
    with connection.cursor() as cursor:  # every row of every table, raw
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                rows += 1
                assert secret not in repr(row), f"raw enrollment token stored in {table}"
    assert rows > 10
    assert EnrollmentToken.unscoped_objects.get().token_hash == hashlib.sha256(secret.encode()).hexdigest()


@pytest.mark.parametrize("bad_key", ["not base64!", base64.b64encode(b"short").decode(),
                                     base64.b64encode(b"x" * 33).decode(), 12345])
def test_a_bad_public_key_is_400_and_keeps_the_token(acme, bad_key):  # noqa: ANN001
    secret = token_for(acme)["token"]
    response = enroll(secret, bad_key)
    assert response.status_code == 400
    assert "32-byte Ed25519 public key" in response.json()["public_key"][0]
    assert device(acme).enrolled_at is None
    assert enroll(secret).status_code == 200  # positive control: the token was not consumed


@pytest.mark.parametrize("body, message", [
    (b"{not json", "body must be JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"token": "abcdefgh", "public_key": "x", "extra": 1}', "unknown field(s) ['extra']"),
    (b'{"public_key": "x"}', "token"),
])
def test_malformed_enrollment_bodies_get_a_specific_400(acme, body, message):  # noqa: ANN001
    response = Client().post("/edge/enroll", body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_enroll_is_post_only(db):  # noqa: ANN001
    assert Client().get("/edge/enroll").status_code == 405


def test_admin_revokes_a_device_operator_may_not_other_tenant_gets_404(acme, globex):  # noqa: ANN001
    url = f"/api/v1/devices/{acme.device.id}/revoke/"
    secret = token_for(acme)["token"]
    assert client_for(acme.users["olga"]).post(url).status_code == 403
    assert client_for(globex.users["mallory"]).post(url).status_code == 404
    assert device(acme).revoked_at is None
    revoked = client_for(acme.users["alice"]).post(url)
    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["status"] == "disabled" and revoked.json()["revoked_at"]
    assert (device(acme).status, device(acme).revoked_at is not None) == ("disabled", True)
    # its unused token ended with it; no new token for a revoked device
    assert enroll(secret).status_code == 404
    again = client_for(acme.users["alice"]).post(f"/api/v1/devices/{acme.device.id}/enrollment/")
    assert again.status_code == 409 and "revoked" in again.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_an_enrolled_key_connects_to_the_edge_socket_until_the_device_is_revoked(acme):  # noqa: ANN001
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from edge_agent.protocol import challenge_bytes
    from vadcloud.asgi import application

    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    assert enroll(token_for(acme)["token"], public).status_code == 200

    async def handshake() -> dict:
        ws = WebsocketCommunicator(application, "/ws/edge/", headers=[(b"origin", b"http://127.0.0.1"),
                                                                       (b"host", b"127.0.0.1")])
        assert (await ws.connect())[0]
        nonce = (await ws.receive_json_from(timeout=5))["nonce"]
        signature = base64.b64encode(key.sign(challenge_bytes(nonce, acme.device.id))).decode()
        await ws.send_json_to({"v": 2, "type": "hello", "device_id": acme.device.id, "agent_version": "0.1.0",
                               "signature": signature})
        output = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return output

    welcome = async_to_sync(handshake)()
    assert welcome["type"] == "websocket.send" and json.loads(welcome["text"])["type"] == "welcome"
    assert client_for(acme.users["alice"]).post(f"/api/v1/devices/{acme.device.id}/revoke/").status_code == 200
    refused = async_to_sync(handshake)()
    assert (refused["type"], refused.get("code")) == ("websocket.close", 4403), refused


def test_enrollment_tokens_never_start_like_a_command_line_option(acme):  # noqa: ANN001
    from cameras.services import device_enrollment_token_create
    from tenants.models import Membership
    from tenants.scope import tenant_scope

    with tenant_scope(acme.tenant.id):
        admin = Membership.objects.get(user=acme.users["alice"])
        secrets_made = [device_enrollment_token_create(member=admin, device_id=acme.device.id)[1] for _ in range(64)]
    assert all(s.startswith("vet_") and len(s) > 40 for s in secrets_made)
