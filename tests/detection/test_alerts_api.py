from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from detection.models import Alert
from tenants.scope import tenant_scope
from tests.conftest import client_for


def test_alerts_filter_by_site_camera_status_and_time(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])

    def ids(**params):  # noqa: ANN003, ANN202
        response = alice.get("/api/v1/alerts/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {acme.alert.id, acme.other_alert.id}
    assert ids(site=acme.site.id) == {acme.alert.id}
    assert ids(camera=acme.other_camera.id) == {acme.other_alert.id}
    assert ids(status="open") == {acme.alert.id, acme.other_alert.id}
    assert ids(status="dismissed") == set()
    since = (timezone.now() - timedelta(minutes=30)).isoformat()
    assert ids(since=since) == {acme.alert.id}
    assert ids(until=since) == {acme.other_alert.id}


def test_bad_alert_filter_is_a_field_error(acme):  # noqa: ANN001
    response = client_for(acme.users["alice"]).get("/api/v1/alerts/", {"status": "sleeping", "since": "yesterday"})
    assert response.status_code == 400
    assert {"status", "since"} <= set(response.json())


def test_alert_list_pages_with_a_cursor(acme):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        for i in range(7):
            Alert.objects.create(camera=acme.camera, started_at=timezone.now() - timedelta(days=1, minutes=i),
                                 peak_score=1.0)
    client = client_for(acme.users["olga"])
    seen, url = [], "/api/v1/alerts/?page_size=4"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 9


def test_operator_acknowledges_with_a_reason_once(acme):  # noqa: ANN001
    olga = client_for(acme.users["olga"])
    url = f"/api/v1/alerts/{acme.alert.id}/acknowledge/"
    response = olga.post(url, {"reason": "confirmed_incident", "note": "security sent"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["reason_code"], body["handled_by"]) == ("acknowledged", "confirmed_incident", "olga")
    again = olga.post(url, {"reason": "confirmed_incident"})
    assert again.status_code == 409 and "already acknowledged" in again.json()["status"][0]


def test_dismiss_needs_a_dismiss_reason(acme):  # noqa: ANN001
    olga = client_for(acme.users["olga"])
    url = f"/api/v1/alerts/{acme.alert.id}/dismiss/"
    wrong = olga.post(url, {"reason": "confirmed_incident"})
    assert wrong.status_code == 400 and "not a reason for dismissed" in wrong.json()["reason"][0]
    unknown = olga.post(url, {"reason": "bored"})
    assert unknown.status_code == 400 and "reason" in unknown.json()
    ok = olga.post(url, {"reason": "false_alarm"})
    assert ok.status_code == 200 and ok.json()["status"] == "dismissed"


def test_other_tenant_cannot_acknowledge(acme, globex):  # noqa: ANN001
    mallory = client_for(globex.users["mallory"])
    response = mallory.post(f"/api/v1/alerts/{acme.alert.id}/acknowledge/", {"reason": "investigating"})
    assert response.status_code == 404
    with tenant_scope(acme.tenant.id):
        assert Alert.objects.get(id=acme.alert.id).status == "open"
