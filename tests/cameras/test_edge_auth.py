"""Device-signed HTTP (cameras.edge_auth + edge_agent.transport.http): a good signature is
accepted; a tampered body, path or query, another key, an old timestamp, a revoked or unknown
device are 401; the agent's signed_request works against the live server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import RequestFactory

from cameras import services
from cameras.edge_auth import device_from_request
from edge_agent.transport.device import Device
from edge_agent.transport.http import EdgeHttpError, sign_headers, signed_request
from tenants.errors import NotAuthenticated
from tenants.models import Membership
from tenants.scope import tenant_scope


def enroll(world, key: Ed25519PrivateKey | None = None, *, cloud_url: str = "http://testserver") -> Device:  # noqa: ANN001
    """Enroll ``world.device`` with a fresh key through the real token flow; the agent's view of it."""
    key = key or Ed25519PrivateKey.generate()
    with tenant_scope(world.tenant.id):
        admin = Membership.objects.get(user=world.users[next(iter(world.users))])
        _, secret = services.device_enrollment_token_create(member=admin, device_id=world.device.id)
    probe = Device(device_id=world.device.id, cloud_url=cloud_url, ws_url="ws://x/ws/edge/", key=key,
                   data_dir=Path("."))
    services.device_enroll(token=secret, public_key=probe.public_key_b64)
    return probe


def meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def signed(device: Device, method: str, path: str, body: bytes = b"", *, now: float | None = None,
           send_path: str | None = None, send_body: bytes | None = None):  # noqa: ANN201
    """A Django request for ``send_path``/``send_body`` carrying a signature over ``path``/``body``."""
    headers = meta(sign_headers(device, method, "http://testserver" + path, body, now=now))
    factory = RequestFactory()
    target = send_path or path
    data = body if send_body is None else send_body
    if method == "GET":
        return factory.get(target, **headers)
    return factory.generic(method, target, data, content_type="application/octet-stream", **headers)


@pytest.fixture
def box(acme) -> Device:  # noqa: ANN001
    return enroll(acme)


def test_a_good_signature_authenticates_the_device(acme, box):  # noqa: ANN001
    request = signed(box, "POST", "/edge/whoami?x=1", b'{"a": 1}')
    assert device_from_request(request).id == acme.device.id


@pytest.mark.parametrize("tamper", ["body", "path", "query", "method"])
def test_a_changed_request_is_refused(acme, box, tamper):  # noqa: ANN001
    kwargs = {"body": {"send_body": b'{"a": 2}'}, "path": {"send_path": "/edge/other?x=1"},
              "query": {"send_path": "/edge/whoami?x=2"}, "method": {}}[tamper]
    request = signed(box, "POST", "/edge/whoami?x=1", b'{"a": 1}', **kwargs)
    if tamper == "method":
        request.method = "PUT"
    with pytest.raises(NotAuthenticated, match="device authentication failed"):
        device_from_request(request)
    assert device_from_request(signed(box, "POST", "/edge/whoami?x=1", b'{"a": 1}')).id == acme.device.id


def test_another_key_is_refused(acme, box):  # noqa: ANN001
    impostor = Device(device_id=box.device_id, cloud_url=box.cloud_url, ws_url=box.ws_url,
                      key=Ed25519PrivateKey.generate())
    with pytest.raises(NotAuthenticated, match="device authentication failed"):
        device_from_request(signed(impostor, "GET", "/edge/whoami"))
    assert device_from_request(signed(box, "GET", "/edge/whoami")).id == acme.device.id


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_a_timestamp_outside_300_seconds_is_refused(acme, box, offset):  # noqa: ANN001
    with pytest.raises(NotAuthenticated, match="away from the server clock"):
        device_from_request(signed(box, "GET", "/edge/whoami", now=time.time() + offset))
    assert device_from_request(signed(box, "GET", "/edge/whoami", now=time.time() - 290)).id == acme.device.id


@pytest.mark.parametrize("drop", ["X-VAD-Device", "X-VAD-Timestamp", "X-VAD-Signature"])
def test_a_missing_header_is_refused_and_named(acme, box, drop):  # noqa: ANN001
    request = signed(box, "GET", "/edge/whoami")
    del request.META["HTTP_" + drop.upper().replace("-", "_")]
    with pytest.raises(NotAuthenticated, match=drop):
        device_from_request(request)


def test_a_revoked_device_is_refused(acme, box):  # noqa: ANN001
    assert device_from_request(signed(box, "GET", "/edge/whoami")).id == acme.device.id
    with tenant_scope(acme.tenant.id):
        services.device_revoke(member=Membership.objects.get(user=acme.users["alice"]), device_id=acme.device.id)
    with pytest.raises(NotAuthenticated):
        device_from_request(signed(box, "GET", "/edge/whoami"))


def test_an_unknown_or_never_enrolled_device_is_refused(acme, globex, box):  # noqa: ANN001
    ghost = Device(device_id=999_999, cloud_url="", ws_url="", key=box.key)
    pending = Device(device_id=globex.device.id, cloud_url="", ws_url="", key=box.key)
    for device in (ghost, pending):
        with pytest.raises(NotAuthenticated, match="device authentication failed"):
            device_from_request(signed(device, "GET", "/edge/whoami"))


def test_whoami_over_http_answers_401_unsigned_and_200_signed(acme, box, client):  # noqa: ANN001
    unsigned = client.get("/edge/whoami")
    assert unsigned.status_code == 401 and "X-VAD-Device" in unsigned.json()["detail"]
    assert unsigned["WWW-Authenticate"].startswith("VAD-Device")
    ok = client.get("/edge/whoami", **meta(sign_headers(box, "GET", "http://testserver/edge/whoami")))
    assert ok.status_code == 200 and ok.json()["device_id"] == acme.device.id


@pytest.mark.django_db(transaction=True)
def test_the_agents_signed_request_reaches_the_live_server(acme, live_server):  # noqa: ANN001
    box = enroll(acme, cloud_url=live_server.url)
    with signed_request(box, "GET", "/edge/whoami") as response:
        assert response.status == 200
        assert b'"device_id": %d' % acme.device.id in response.read()
    other = Device(device_id=box.device_id, cloud_url=live_server.url, ws_url="", key=Ed25519PrivateKey.generate())
    with pytest.raises(EdgeHttpError) as refused:
        signed_request(other, "GET", "/edge/whoami")
    assert refused.value.status == 401 and "device authentication failed" in refused.value.detail
