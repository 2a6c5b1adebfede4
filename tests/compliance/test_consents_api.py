"""Consent records through /api/v1/consents/: who may record and withdraw, what is refused, and
that each change re-resolves the policy and pushes a new config to the site's device."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from tests.cameras.test_edge_config import DeviceGroups, config_event
from tests.compliance.test_policy_enforcement import SHA, consent_body, decision
from tests.conftest import client_for


def test_compliance_officer_admin_and_owner_record_consent_operator_and_viewer_may_not(acme):  # noqa: ANN001
    for who in ("olga", "vera"):
        response = client_for(acme.users[who]).post("/api/v1/consents/", consent_body(acme.site.id), format="json")
        assert response.status_code == 403, (who, response.content)
    for who in ("carl", "alice", "owen"):
        response = client_for(acme.users[who]).post("/api/v1/consents/", consent_body(acme.site.id), format="json")
        assert response.status_code == 201, (who, response.content)
        assert response.json()["active"] is True and response.json()["document_sha256"] == SHA
    listed = client_for(acme.users["vera"]).get("/api/v1/consents/").json()  # every member may read
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert len(rows) == 3


@pytest.mark.parametrize(("field", "value", "message"), [
    ("document_sha256", "not-a-hash", "64 hex digits"),
    ("capability", "motion", "is not a valid choice"),
    ("kind", "handshake", "is not a valid choice"),
    ("signer", "   ", "may not be blank"),
    ("signed_at", "2999-01-01T00:00:00Z", "signed_at is in the future"),
    ("site", 999999, "object does not exist"),
])
def test_a_bad_consent_is_a_400_naming_the_field(acme, field, value, message):  # noqa: ANN001
    body = consent_body(acme.site.id) | {field: value}
    response = client_for(acme.users["carl"]).post("/api/v1/consents/", body, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(str(m) for m in response.json()[field]), response.json()


def test_expiry_before_signature_is_refused_and_an_expired_consent_allows_nothing(acme):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    signed = timezone.now() - timedelta(days=30)
    bad = carl.post("/api/v1/consents/", consent_body(acme.site.id) | {
        "signed_at": signed.isoformat(), "expires_at": (signed - timedelta(days=1)).isoformat()}, format="json")
    assert bad.status_code == 400 and "expires_at must be after signed_at" in bad.json()["expires_at"][0]
    expired = carl.post("/api/v1/consents/", consent_body(acme.site.id) | {
        "signed_at": signed.isoformat(), "expires_at": (timezone.now() - timedelta(days=1)).isoformat()},
        format="json")
    assert expired.status_code == 201 and expired.json()["active"] is False
    face = decision(carl.get(f"/api/v1/cameras/{acme.camera.id}/policy/").json(), "biometric_identification")
    assert face["status"] == "disabled"


def test_a_weaker_consent_kind_does_not_satisfy_the_illinois_written_release(acme):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    assert carl.post("/api/v1/consents/", consent_body(acme.site.id, kind="notice_opt_out"),
                     format="json").status_code == 201
    face = decision(carl.get(f"/api/v1/cameras/{acme.camera.id}/policy/").json(), "biometric_identification")
    assert face["status"] == "disabled" and "requires a written release; none on file" in face["trace"]
    # positive control: the written release does
    assert carl.post("/api/v1/consents/", consent_body(acme.site.id), format="json").status_code == 201
    face = decision(carl.get(f"/api/v1/cameras/{acme.camera.id}/policy/").json(), "biometric_identification")
    assert face["status"] == "allowed_with_consent"


def test_withdrawing_twice_is_a_409_and_operators_may_not_withdraw(acme):  # noqa: ANN001
    carl = client_for(acme.users["carl"])
    consent_id = carl.post("/api/v1/consents/", consent_body(acme.site.id), format="json").json()["id"]
    url = f"/api/v1/consents/{consent_id}/withdraw/"
    assert client_for(acme.users["olga"]).post(url, {}, format="json").status_code == 403
    assert carl.post(url, {"reason": "left the company"}, format="json").status_code == 200
    again = carl.post(url, {}, format="json")
    assert again.status_code == 409 and "already withdrawn" in again.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_consent_withdrawal_settings_and_jurisdiction_changes_push_the_sites_device(acme, globex):  # noqa: ANN001
    carl, alice = client_for(acme.users["carl"]), client_for(acme.users["alice"])

    async def run() -> dict[str, list]:
        groups = DeviceGroups()
        await groups.join(acme.device.id, globex.device.id)
        seen: dict[str, list] = {}
        created = await sync_to_async(carl.post)("/api/v1/consents/", consent_body(acme.site.id), format="json")
        seen["create"] = await groups.drain(acme.device.id)
        await sync_to_async(carl.post)(f"/api/v1/consents/{created.json()['id']}/withdraw/", {}, format="json")
        seen["withdraw"] = await groups.drain(acme.device.id)
        await sync_to_async(carl.put)("/api/v1/compliance/privacy-settings/",
                                      {"forbidden_capabilities": ["pose_estimation"]}, format="json")
        seen["settings"] = await groups.drain(acme.device.id)
        await sync_to_async(alice.patch)(f"/api/v1/sites/{acme.site.id}/", {"jurisdiction": "US-TX"}, format="json")
        seen["jurisdiction"] = await groups.drain(acme.device.id)
        seen["globex"] = await groups.drain(globex.device.id)
        return seen

    seen = async_to_sync(run)()
    for change in ("create", "jurisdiction"):  # nothing biometric taken away: the new config only
        assert seen[change] == [config_event(acme.device.id)], (change, seen[change])
    for change in ("withdraw", "settings"):  # a biometric capability taken away: config + destroy templates
        config, command = seen[change]
        assert config == config_event(acme.device.id), (change, seen[change])
        assert command["type"] == "edge.send" and command["message"]["action"] == "destroy_biometric_templates"
    assert seen["globex"] == []  # another tenant's device hears nothing
    from cameras.models import DeviceCommand
    from tenants.scope import tenant_scope

    with tenant_scope(acme.tenant.id):  # recorded like an admin's command, answered by the agent later
        assert list(DeviceCommand.objects.values_list("action", "status", "sent_by__username")) == [
            ("destroy_biometric_templates", "pending", "carl")] * 2


@pytest.mark.django_db(transaction=True)
def test_the_beat_job_pushes_the_devices_of_sites_whose_consent_just_expired(acme, globex):  # noqa: ANN001
    from compliance.tasks import consent_expiry_push_all_task
    from tests.compliance.consent_factory import make_consent

    make_consent(acme, expires_at=timezone.now() - timedelta(seconds=5))  # just expired
    make_consent(globex, expires_at=timezone.now() - timedelta(days=3))  # long ago: pushed back then
    make_consent(globex, site=globex.site, expires_at=timezone.now() + timedelta(days=3))  # still valid

    async def run() -> tuple[int, list, list]:
        groups = DeviceGroups()
        await groups.join(acme.device.id, globex.device.id)
        told = await sync_to_async(lambda: consent_expiry_push_all_task.delay(window_s=120).get())()
        return told, await groups.drain(acme.device.id), await groups.drain(globex.device.id)

    told, acme_events, globex_events = async_to_sync(run)()
    assert told == 1 and acme_events == [config_event(acme.device.id)] and globex_events == []
    from django.conf import settings

    from vadcloud.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["consent-expiry-push"]
    assert entry["task"] == "compliance.consent_expiry_push_all" and entry["task"] in app.tasks
