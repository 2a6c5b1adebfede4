"""Audit log through the public interfaces: the write paths record entries (with actor, IP,
before/after), sign-ins and failed sign-ins are recorded, search and export are for owner, admin
and compliance officer only, bad parameters are 400s."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from compliance.audit_signing import platform_checkpoint_all
from compliance.models import AuditCheckpoint, AuditEntry
from tenants.scope import tenant_scope
from tests.compliance.audit_helpers import fill_chain
from tests.conftest import client_for


def entries(world, **filters):  # noqa: ANN001, ANN201
    with tenant_scope(world.tenant.id):
        return list(AuditEntry.objects.filter(**filters).order_by("seq"))


def test_site_change_is_recorded_with_actor_ip_before_and_after(acme):  # noqa: ANN001
    client = client_for(acme.users["alice"])
    response = client.patch(f"/api/v1/sites/{acme.site.id}/", {"name": "HQ North"}, format="json",
                            REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 200
    [entry] = entries(acme, action="site.update")
    assert (entry.actor, entry.ip, entry.target_type, entry.target_id) == ("alice", "198.51.100.4", "tenants.site",
                                                                           str(acme.site.id))
    assert entry.before["name"] == "Acme Retail HQ" and entry.after["name"] == "HQ North"


def test_refused_change_leaves_no_entry(acme):  # noqa: ANN001
    response = client_for(acme.users["olga"]).patch(f"/api/v1/sites/{acme.site.id}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert entries(acme, action="site.update") == []


def test_failed_request_rolls_back_its_entry(acme):  # noqa: ANN001
    client = client_for(acme.users["alice"])
    response = client.patch(f"/api/v1/sites/{acme.site.id}/", {"name": acme.other_site.name}, format="json")
    assert response.status_code == 400  # unique name per tenant
    assert entries(acme, action="site.update") == []


def test_alert_acknowledge_and_role_change_are_recorded(acme):  # noqa: ANN001
    olga = client_for(acme.users["olga"])
    assert olga.post(f"/api/v1/alerts/{acme.alert.id}/acknowledge/", {"reason": "investigating"}).status_code == 200
    [ack] = entries(acme, action="alert.acknowledge")
    assert ack.actor == "olga" and ack.after["reason_code"] == "investigating" and ack.before == {"status": "open"}
    with tenant_scope(acme.tenant.id):
        from tenants.models import Membership

        vera = Membership.objects.get(user=acme.users["vera"])
    response = client_for(acme.users["alice"]).patch(f"/api/v1/memberships/{vera.id}/", {"role": "operator"})
    assert response.status_code == 200
    [change] = entries(acme, action="membership.update")
    assert (change.before["role"], change.after["role"], change.actor) == ("viewer", "operator", "alice")


def test_sign_in_and_failed_sign_in_are_recorded_in_the_users_tenant(acme, globex):  # noqa: ANN001
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert client.post("/login/", {"username": "olga", "password": "wrong"}).status_code == 200
    [failed] = entries(acme, action="auth.login_failed")
    assert (failed.ip, failed.extra["username"], failed.target_id, failed.actor) == (
        "203.0.113.9", "olga", str(acme.users["olga"].pk), "")
    assert client.post("/login/", {"username": "olga", "password": "pw-123456!"}).status_code == 302
    [login] = entries(acme, action="auth.login")
    assert (login.actor, login.ip) == ("olga", "203.0.113.9")
    assert entries(globex, action__startswith="auth.") == []  # olga is not globex's
    # an unknown username belongs to no tenant: nothing is recorded anywhere
    assert client.post("/login/", {"username": "nobody", "password": "x"}).status_code == 200
    assert len(entries(acme, action="auth.login_failed")) == 1


def test_device_auth_refusal_is_recorded(acme):  # noqa: ANN001
    from cameras.services import device_authenticate
    from tenants.errors import NotAuthenticated

    with pytest.raises(NotAuthenticated):
        device_authenticate(device_id=acme.device.id, nonce="bm9uY2U=", signature="AAAA")
    [refused] = entries(acme, action="device.auth_refused")
    assert refused.actor == f"device:{acme.device.id}" and refused.extra == {"reason": "not enrolled"}


@pytest.mark.parametrize(("user", "status"), [("olga", 403), ("vera", 403), ("carl", 200), ("alice", 200),
                                              ("owen", 200)])
def test_search_and_export_by_role(acme, user, status):  # noqa: ANN001
    fill_chain(acme, count=2)
    client = client_for(acme.users[user])
    assert client.get("/api/v1/audit/").status_code == status
    assert client.get(f"/api/v1/audit/{entries(acme)[0].id}/").status_code == status
    assert client.get("/api/v1/audit/export/").status_code == status


def test_other_tenant_gets_404_for_an_entry_and_sees_only_its_own(acme, globex):  # noqa: ANN001
    fill_chain(acme, count=2)
    fill_chain(globex, count=1, checkpoint_every=1)
    mallory = client_for(globex.users["mallory"])
    assert mallory.get(f"/api/v1/audit/{entries(acme)[0].id}/").status_code == 404
    rows = mallory.get("/api/v1/audit/").json()["results"]
    assert rows and {r["id"] for r in rows} == {e.id for e in entries(globex)}
    assert client_for(acme.users["carl"]).get(f"/api/v1/audit/{entries(acme)[0].id}/").status_code == 200


def test_search_filters_and_pages(acme):  # noqa: ANN001
    fill_chain(acme, count=3)
    client = client_for(acme.users["carl"])
    client.patch(f"/api/v1/sites/{acme.site.id}/", {"name": "HQ 2"}, format="json")  # carl may not: 403
    client_for(acme.users["alice"]).patch(f"/api/v1/sites/{acme.site.id}/", {"name": "HQ 3"}, format="json")
    body = client.get("/api/v1/audit/", {"action": "site.update"}).json()
    assert [r["action"] for r in body["results"]] == ["site.update"]
    assert len(client.get("/api/v1/audit/", {"action": "test."}).json()["results"]) == 3
    assert {r["actor"] for r in client.get("/api/v1/audit/", {"actor": "alice"}).json()["results"]} == {"alice"}
    first = entries(acme)[1]
    window = client.get("/api/v1/audit/", {"from": first.ts.isoformat()}).json()["results"]
    assert min(r["seq"] for r in window) == first.seq
    page = client.get("/api/v1/audit/", {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    assert [r["seq"] for r in page["results"]] == sorted((r["seq"] for r in page["results"]), reverse=True)


@pytest.mark.parametrize("params", [{"from": "yesterday"}, {"to": "2026-13-40"}, {"format": "xml"},
                                    {"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}])
def test_bad_export_parameters_are_400(acme, params):  # noqa: ANN001
    response = client_for(acme.users["carl"]).get("/api/v1/audit/export/", params)
    assert response.status_code == 400, response.content
    assert entries(acme, action="audit.export") == []  # nothing exported, nothing recorded


def test_bad_search_parameters_are_400(acme):  # noqa: ANN001
    response = client_for(acme.users["carl"]).get("/api/v1/audit/", {"from": "soon"})
    assert response.status_code == 400 and "from" in response.json()


def test_export_is_recorded_and_checkpointed(acme):  # noqa: ANN001
    fill_chain(acme, count=2, checkpoint_every=5)
    response = client_for(acme.users["carl"]).get("/api/v1/audit/export/", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="audit-acme-' in response["Content-Disposition"]
    b"".join(response.streaming_content)
    [export] = entries(acme, action="audit.export")
    assert export.actor == "carl" and export.extra["format"] == "csv"
    with tenant_scope(acme.tenant.id):
        assert AuditCheckpoint.objects.get().seq == export.seq


def test_public_keys_need_no_sign_in(db, api, settings):  # noqa: ANN001
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = [Ed25519PrivateKey.generate() for _ in range(2)]
    b64 = [base64.b64encode(k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode() for k in raw]
    settings.AUDIT_SIGNING_KEYS = f"2026-12:{b64[0]},2026-06:{b64[1]}"
    keys = api.get("/api/v1/audit/public-keys/").json()["keys"]
    assert list(keys) == ["2026-12", "2026-06"]
    assert keys["2026-12"] == base64.b64encode(raw[0].public_key().public_bytes_raw()).decode()


def test_bad_signing_key_is_named(acme, settings):  # noqa: ANN001
    from django.core.exceptions import ImproperlyConfigured

    from compliance.audit_signing import checkpoint_create

    fill_chain(acme, count=1, checkpoint_every=5)
    settings.AUDIT_SIGNING_KEYS = "k1:not-base64"
    with pytest.raises(ImproperlyConfigured, match="audit signing key 'k1' is not base64"):
        checkpoint_create(tenant_id=acme.tenant.id)


def test_beat_job_checkpoints_every_tenant_that_moved(acme, globex):  # noqa: ANN001
    fill_chain(acme, count=2, checkpoint_every=5)
    fill_chain(globex, count=1, checkpoint_every=5)
    assert platform_checkpoint_all() == 2
    assert platform_checkpoint_all() == 0  # nothing moved since
    fill_chain(acme, count=1, checkpoint_every=5)
    assert platform_checkpoint_all() == 1
    with tenant_scope(acme.tenant.id):
        first, second = AuditCheckpoint.objects.order_by("seq")
    assert second.prev_signature == first.signature


def test_export_jsonl_lines_are_canonical_json(acme):  # noqa: ANN001
    fill_chain(acme, count=1)
    response = client_for(acme.users["owen"]).get("/api/v1/audit/export/")
    lines = b"".join(response.streaming_content).decode().splitlines()
    for line in lines:
        assert json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False) == line


@pytest.mark.django_db(transaction=True)
def test_alert_dismissed_over_the_websocket_is_recorded(acme):  # noqa: ANN001
    from asgiref.sync import async_to_sync

    from tests.test_bola import ws_for

    async def run() -> dict:
        ws = await ws_for(acme.users["olga"])
        await ws.send_json_to({"type": "dismiss", "alert_id": acme.alert.id, "reason": "false_alarm"})
        reply = await ws.receive_json_from(timeout=5)
        while reply["type"] == "alert":
            reply = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return reply

    assert async_to_sync(run)()["type"] == "dismiss.ok"
    [entry] = entries(acme, action="alert.dismiss")
    assert entry.actor == "olga" and entry.after["reason_code"] == "false_alarm"


def test_enrollment_token_and_revocation_are_recorded(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    assert alice.post(f"/api/v1/devices/{acme.device.id}/enrollment/").status_code in (200, 201)
    assert alice.post(f"/api/v1/devices/{acme.device.id}/revoke/").status_code == 200
    [token] = entries(acme, action="device.enrollment_token")
    [revoked] = entries(acme, action="device.revoke")
    assert token.actor == revoked.actor == "alice"
    assert revoked.before["revoked_at"] is None and revoked.after["status"] == "disabled"


@pytest.mark.django_db(transaction=True)
def test_export_streams_under_asgi_and_verifies(acme, api, tmp_path):  # noqa: ANN001
    """Under ASGI (the production server) the export is an async stream, read chunk by chunk."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from tests.compliance.audit_helpers import public_key_file, run_verify

    fill_chain(acme, count=3)

    async def run() -> tuple[bool, bytes]:
        client = AsyncClient()
        await client.aforce_login(acme.users["carl"])
        response = await client.get("/api/v1/audit/export/")
        assert response.status_code == 200
        return response.is_async, b"".join([chunk async for chunk in response.streaming_content])

    is_async, data = async_to_sync(run)()
    assert is_async
    path = tmp_path / "asgi.jsonl"
    path.write_bytes(data)
    result = run_verify(path, public_key_file(tmp_path, api))
    # 3 filled + carl's auth.login (aforce_login sends user_logged_in) + audit.export
    assert result.returncode == 0 and result.stdout.startswith("OK: 5 entries"), result.stdout + result.stderr
