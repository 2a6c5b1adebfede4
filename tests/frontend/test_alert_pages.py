"""The alert wall (/alerts/) and alert detail (/alerts/<id>/) through the Django test client:
who sees what, the filters, the plots, acknowledge / dismiss with the reason codes, and the
errors (bad filter 400, wrong role 403, another tenant's alert 404, handled twice 409)."""

from __future__ import annotations

import pytest
from django.test import Client

from detection.models import FALSE_ALARM_REASONS, Alert, AlertStatus, ReasonCode, is_false_alarm
from tenants.scope import tenant_scope
from tests.conftest import client_for
from tests.conftest import portal_client as portal

pytestmark = pytest.mark.django_db


def alert_row(world, alert_id: int) -> Alert:  # noqa: ANN001
    with tenant_scope(world.tenant.id):
        return Alert.objects.get(id=alert_id)


def test_signed_out_visitor_is_sent_to_the_login_page(acme):  # noqa: ANN001
    for url in ("/alerts/", f"/alerts/{acme.alert.id}/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_operator_sees_the_wall_with_votes_filters_and_live_socket(acme):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).get("/alerts/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-alert-id="{acme.alert.id}"' in html and f'data-alert-id="{acme.other_alert.id}"' in html
    assert 'data-alert-wall="/ws/alerts/"' in html and 'data-can-handle="1"' in html
    assert '<span class="vote">flow 2.50</span>' in html
    assert "EU AI Act Art. 14" in html
    assert 'id="alert-wall-config"' in html and "fp_camera_moved" in html  # the dismiss reasons for the dialog
    assert "<script>" not in html  # the CSP allows no inline script


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    ("status=dismissed", [], ["alert", "other_alert"]),
    ("status=open", ["alert", "other_alert"], []),
    ("site={site}", ["alert"], ["other_alert"]),
    ("camera={other_camera}", ["other_alert"], ["alert"]),
])
def test_wall_filters_by_site_camera_and_status(acme, query, shown, hidden):  # noqa: ANN001
    url = "/alerts/?" + query.format(site=acme.site.id, other_camera=acme.other_camera.id)
    response = portal(acme.users["olga"], acme.tenant.id).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    for name in shown:
        assert f'data-alert-id="{getattr(acme, name).id}"' in html
    for name in hidden:
        assert f'data-alert-id="{getattr(acme, name).id}"' not in html
    if not shown:
        assert "No alerts match these filters yet" in html


@pytest.mark.parametrize(("query", "message"), [
    ("site=abc", "site must be a positive whole number"),
    ("camera=-3", "camera must be a positive whole number"),
    ("status=closed", "status &#x27;closed&#x27; is unknown"),
])
def test_bad_wall_filter_is_a_400_naming_it(acme, query, message):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).get(f"/alerts/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_viewer_sees_the_wall_and_detail_without_the_decision_forms(acme):  # noqa: ANN001
    client = portal(acme.users["vera"], acme.tenant.id)
    assert 'data-can-handle="0"' in client.get("/alerts/").content.decode()
    html = client.get(f"/alerts/{acme.alert.id}/").content.decode()
    assert "can look at alerts but not acknowledge" in html and 'data-testid="dismiss-form"' not in html


def test_another_tenants_alert_is_a_404_page(acme, globex):  # noqa: ANN001
    client = portal(acme.users["olga"], acme.tenant.id)
    response = client.get(f"/alerts/{globex.alert.id}/")
    assert response.status_code == 404 and f"alert {globex.alert.id} not found" in response.content.decode()
    response = client.post(f"/alerts/{globex.alert.id}/dismiss/", {"reason": "fp_shadow"})
    assert response.status_code == 404
    assert alert_row(globex, globex.alert.id).status == AlertStatus.OPEN


def test_detail_shows_per_model_votes_evidence_boxes_and_the_score_curve(acme):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        Alert.objects.filter(id=acme.alert.id).update(
            per_model={"flow": {"score": 2.5, "vote": True, "type": "optical_flow", "evidence": [
                {"kind": "cell", "label": "speed", "value": 0.4}, {"kind": "cell", "label": "burst", "value": 3.1}]},
                "objects": {"score": 0.3, "vote": False, "evidence": []}},
            boxes=[[100, 50, 200, 300]], curve={"t0": 10.0, "dt": 0.5, "scores": [0.1, 0.9, 2.5, 0.4], "threshold": 1.0})
    response = portal(acme.users["olga"], acme.tenant.id).get(f"/alerts/{acme.alert.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="model-votes"' in html and "voted anomaly" in html and "no vote" in html
    assert html.index("burst 3.10") < html.index("speed 0.40")  # top evidence first
    assert 'class="neutral"' in html and 'viewBox="0 0 1280 720"' in html  # no scene image: a neutral frame
    assert 'data-testid="evidence-box" x="100.0" y="50.0" width="200.0" height="300.0"' in html
    assert 'data-testid="threshold-line"' in html and "threshold 1.00" in html and "<polyline" in html
    assert "1 sample at or above it" in html
    assert 'name="csrfmiddlewaretoken"' in html and 'value="fp_reflection"' in html and 'value="true_positive"' in html


def test_detail_without_curve_or_boxes_says_so(acme):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        Alert.objects.filter(id=acme.alert.id).update(boxes=[], curve={"scores": "not a list"})
    html = portal(acme.users["olga"], acme.tenant.id).get(f"/alerts/{acme.alert.id}/").content.decode()
    assert "No score curve was recorded" in html and "No evidence boxes were recorded" in html


def test_operator_dismisses_with_a_false_positive_reason(acme):  # noqa: ANN001
    client = portal(acme.users["olga"], acme.tenant.id)
    response = client.post(f"/alerts/{acme.alert.id}/dismiss/", {"reason": "fp_shadow", "note": "tree"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "dismissed: False positive: shadow" in html
    alert = alert_row(acme, acme.alert.id)
    assert (alert.status, alert.reason_code, alert.note, alert.handled_by) == (
        AlertStatus.DISMISSED, "fp_shadow", "tree", acme.users["olga"])
    again = client.post(f"/alerts/{acme.alert.id}/acknowledge/", {"reason": "true_positive"})
    assert again.status_code == 409 and "already dismissed" in again.content.decode()


def test_operator_acknowledges_as_true_positive(acme):  # noqa: ANN001
    client = portal(acme.users["olga"], acme.tenant.id)
    response = client.post(f"/alerts/{acme.alert.id}/acknowledge/", {"reason": "true_positive"})
    assert response.status_code == 302 and response["Location"] == f"/alerts/{acme.alert.id}/"
    assert alert_row(acme, acme.alert.id).status == AlertStatus.ACKNOWLEDGED


@pytest.mark.parametrize(("verb", "data", "message"), [
    ("dismiss", {"reason": "true_positive"}, "is not a reason for dismissed"),
    ("acknowledge", {"reason": "fp_crowd"}, "is not a reason for acknowledged"),
    ("dismiss", {}, "choose a reason to dismiss"),
    ("dismiss", {"reason": "fp_crowd", "note": "x" * 2001}, "at most 2000"),
])
def test_bad_decision_is_a_400_on_the_detail_page(acme, verb, data, message):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).post(f"/alerts/{acme.alert.id}/{verb}/", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert 'data-testid="alert-title"' in response.content.decode()  # the page, not a bare error
    assert alert_row(acme, acme.alert.id).status == AlertStatus.OPEN


@pytest.mark.parametrize("username", ["vera", "carl"])
def test_roles_that_do_not_handle_alerts_get_a_403_message(acme, username):  # noqa: ANN001
    response = portal(acme.users[username], acme.tenant.id).post(
        f"/alerts/{acme.alert.id}/dismiss/", {"reason": "fp_shadow"})
    assert response.status_code == 403
    assert alert_row(acme, acme.alert.id).status == AlertStatus.OPEN


def test_get_on_the_decision_routes_is_405(acme):  # noqa: ANN001
    response = portal(acme.users["olga"], acme.tenant.id).get(f"/alerts/{acme.alert.id}/dismiss/")
    assert response.status_code == 405


def test_api_takes_the_new_reason_codes_and_still_the_old_ones(acme):  # noqa: ANN001
    client = client_for(acme.users["olga"])
    ok = client.post(f"/api/v1/alerts/{acme.alert.id}/acknowledge/", {"reason": "true_positive"}, format="json")
    assert ok.status_code == 200 and ok.json()["reason_code"] == "true_positive"
    old = client.post(f"/api/v1/alerts/{acme.other_alert.id}/dismiss/", {"reason": "false_alarm"}, format="json")
    assert old.status_code == 200 and old.json()["reason_code"] == "false_alarm"


def test_false_alarm_reasons_are_every_fp_code_and_the_old_false_alarm_codes():
    fp_codes = {c for c in ReasonCode if c.value.startswith("fp_")}
    assert len(fp_codes) == 7 and fp_codes <= FALSE_ALARM_REASONS
    assert is_false_alarm("fp_camera_moved") and is_false_alarm("false_alarm")
    assert not any(is_false_alarm(c) for c in ("test", "true_positive", "confirmed_incident", "duplicate", ""))


def test_detail_draws_the_boxes_over_the_scene_image_the_page_session_can_load(acme, settings, tmp_path):  # noqa: ANN001
    from django.core.files.base import ContentFile

    from cameras.models import Camera
    from tenants.models import Site

    settings.MEDIA_ROOT = tmp_path / "media"
    with tenant_scope(acme.tenant.id):
        Site.objects.filter(id=acme.site.id).update(scene_images_allowed=True)
        Camera.objects.get(id=acme.camera.id).scene_image.save("scene.jpg", ContentFile(b"\xff\xd8\xff\xe0 jpeg"))
        Alert.objects.filter(id=acme.alert.id).update(boxes=[[10, 20, 30, 40]])
    client = portal(acme.users["olga"], acme.tenant.id)
    html = client.get(f"/alerts/{acme.alert.id}/").content.decode()
    url = f"/api/v1/cameras/{acme.camera.id}/scene-image/"
    assert f'<image href="{url}"' in html and 'class="neutral"' not in html
    assert 'data-testid="evidence-box" x="10.0" y="20.0"' in html
    image = client.get(url)
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"


def test_wall_and_detail_queries_do_not_grow_with_the_alerts(acme, django_assert_max_num_queries):  # noqa: ANN001
    from django.utils import timezone

    with tenant_scope(acme.tenant.id):
        Alert.objects.bulk_create([Alert(tenant_id=acme.tenant.id, camera=acme.camera, zone=acme.zone,
                                         started_at=timezone.now(), peak_score=1.0 + i / 100) for i in range(60)])
    client = portal(acme.users["olga"], acme.tenant.id)
    client.get("/alerts/")  # warm the session
    with django_assert_max_num_queries(15):
        assert client.get("/alerts/").status_code == 200
    with django_assert_max_num_queries(15):
        assert client.get(f"/alerts/{acme.alert.id}/").status_code == 200
