"""KPIs (detection.kpis) and the /kpis/ page, with alerts at known times and reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client

from detection.kpis import false_alarm_reasons, kpi_report
from detection.models import Alert, AlertKind, AlertStatus, ReasonCode
from tenants.models import Membership
from tenants.scope import tenant_scope
from tenants.services import membership_update

D1 = datetime(2026, 3, 2, tzinfo=UTC)  # the period: 2026-03-02 .. 2026-03-04 (72 h)
PERIOD = {"date_from": date(2026, 3, 2), "date_to": date(2026, 3, 4)}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return D1 + timedelta(days=day, hours=hour, minutes=minute)


def alert(camera, started_at, status=AlertStatus.OPEN, reason="", handled_after_s=None, kind=AlertKind.ANOMALY,  # noqa: ANN001
          **extra) -> Alert:
    return Alert.objects.create(
        camera=camera, started_at=started_at, peak_score=1.0, kind=kind, status=status, reason_code=reason,
        handled_at=None if handled_after_s is None else started_at + timedelta(seconds=handled_after_s), **extra)


@pytest.fixture
def history(acme):  # noqa: ANN001, ANN201
    cam, dock = acme.camera, acme.other_camera
    with tenant_scope(acme.tenant.id):
        alert(cam, at(0, 10), AlertStatus.DISMISSED, ReasonCode.FALSE_ALARM, 60)
        alert(cam, at(0, 11), AlertStatus.DISMISSED, ReasonCode.ENVIRONMENT, 120)
        alert(cam, at(0, 12), AlertStatus.DISMISSED, ReasonCode.FP_LIGHTING, 180)
        alert(cam, at(1, 9), AlertStatus.ACKNOWLEDGED, ReasonCode.CONFIRMED_INCIDENT, 300)
        alert(cam, at(1, 10), AlertStatus.DISMISSED, ReasonCode.TEST, 30)  # handled, not a false alarm
        alert(cam, at(2, 8))  # still open
        alert(cam, at(3, 1), AlertStatus.DISMISSED, ReasonCode.FALSE_ALARM, 5)  # after the period
        alert(cam, at(-1, 23), AlertStatus.DISMISSED, ReasonCode.FALSE_ALARM, 5)  # before it
        # device offline: 00:00-03:00 and 02:00-04:00 on day 2 (4 h merged), and one that began
        # before the period and ended at 01:00 on day 1 (1 h inside): 5 h of 72 h.
        for start, end in ((at(1, 0), at(1, 3)), (at(1, 2), at(1, 4)), (at(-1, 20), at(0, 1))):
            alert(cam, start, kind=AlertKind.DEVICE_OFFLINE, device=acme.device, ended_at=end)
        alert(cam, at(1, 5), kind=AlertKind.STREAM_LOST, ended_at=at(1, 6))  # not a detection, not downtime
        alert(dock, at(0, 15), AlertStatus.DISMISSED, ReasonCode.FP_ANIMAL, 600)
    return acme


def member(world, username):  # noqa: ANN001, ANN201
    with tenant_scope(world.tenant.id):
        return Membership.objects.select_related("tenant", "user").get(user=world.users[username])


def test_false_alarm_reasons_are_false_alarm_environment_and_every_fp_code():
    assert false_alarm_reasons() == {"false_alarm", "environment", "fp_lighting", "fp_shadow", "fp_weather",
                                     "fp_animal", "fp_reflection", "fp_crowd", "fp_camera_moved"}


def test_camera_kpis_are_computed_exactly(history):  # noqa: ANN001
    with tenant_scope(history.tenant.id):
        report = kpi_report(membership=member(history, "olga"), **PERIOD)
    by_name = {k.name: k for k in report.cameras}
    entrance = by_name["Entrance"]
    assert (entrance.alerts, entrance.handled, entrance.false_alarms) == (6, 5, 3)
    assert entrance.alerts_by_day == [3, 2, 1]
    assert entrance.false_alarms_by_day == [3, 0, 0]
    assert entrance.ack_rate == 5 / 6
    assert entrance.false_alarm_rate == 3 / 5
    assert entrance.false_alarms_per_camera_day == 1.0 and entrance.within_budget
    assert entrance.median_ack_seconds == 120  # of 30, 60, 120, 180, 300
    assert entrance.uptime == 1 - 5 / 72
    assert entrance.ack_ok is True and entrance.uptime_ok is False
    dock = by_name["Dock"]
    assert (dock.alerts, dock.handled, dock.false_alarms, dock.median_ack_seconds) == (1, 1, 1, 600)
    assert dock.uptime is None  # no device


def test_site_kpis_pool_their_cameras(history):  # noqa: ANN001
    with tenant_scope(history.tenant.id):
        camera = history.camera
        alert(history.other_camera, at(0, 16), AlertStatus.DISMISSED, ReasonCode.FP_SHADOW, 60)
        report = kpi_report(membership=member(history, "olga"), **PERIOD)
    sites = {k.name: k for k in report.sites}
    hq = sites[camera.site.name]
    assert (hq.cameras, hq.alerts, hq.false_alarms, hq.uptime) == (1, 6, 3, 1 - 5 / 72)
    berlin = sites["Acme Retail Berlin"]
    assert (berlin.alerts, berlin.false_alarms, berlin.false_alarm_rate, berlin.median_ack_seconds) == (2, 2, 1.0, 330)
    assert berlin.false_alarms_per_camera_day == 2 / 3


def test_over_budget_shows_when_a_camera_has_two_false_alarms_a_day(acme):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        for i in range(6):  # 6 false alarms over 3 days: 2 a day, not under the budget
            alert(acme.camera, at(i % 3, 10 + i), AlertStatus.DISMISSED, ReasonCode.FP_WEATHER, 10)
        entrance = next(k for k in kpi_report(membership=member(acme, "olga"), **PERIOD).cameras
                        if k.name == "Entrance")
    assert entrance.false_alarms_per_camera_day == 2.0 and not entrance.within_budget


def test_member_limited_to_one_site_sees_only_its_cameras(history):  # noqa: ANN001
    with tenant_scope(history.tenant.id):
        membership_update(actor=member(history, "owen"), membership_id=member(history, "vera").id,
                          all_sites=False, site_ids=[history.other_site.id])
        report = kpi_report(membership=member(history, "vera"), **PERIOD)
    assert [k.name for k in report.cameras] == ["Dock"]
    assert [k.name for k in report.sites] == ["Acme Retail Berlin"]


def login(world, username) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(world.users[username])
    return client


@pytest.mark.parametrize("username", ["owen", "alice", "olga", "carl", "vera"])
def test_kpi_page_shows_the_numbers_to_every_role(history, username):  # noqa: ANN001
    response = login(history, username).get("/kpis/", {"date_from": "2026-03-02", "date_to": "2026-03-04"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kpi="ack-rate" class="">83% (5/6)' in html
    assert 'data-kpi="fa-rate">60% (3/5)' in html
    assert 'data-kpi="median-ack">120 s' in html
    assert "93.06%" in html  # uptime 1 - 5/72
    assert "<svg" in html and 'class="budget"' in html


def test_kpi_page_defaults_to_the_last_seven_days(acme):  # noqa: ANN001
    html = login(acme, "olga").get("/kpis/").content.decode()
    today = datetime.now(UTC).date()
    assert f'value="{(today - timedelta(days=6)).isoformat()}"' in html and f'value="{today.isoformat()}"' in html
    assert 'data-kpi="alerts">1<' in html  # the world's two alerts of today, one per camera


def test_kpi_page_of_another_tenant_member_shows_none_of_acmes_cameras(history, globex):  # noqa: ANN001
    response = login(globex, "mallory").get("/kpis/", {"date_from": "2026-03-02", "date_to": "2026-03-04"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Globex HQ" in html and "Acme Retail" not in html  # globex's own cameras, none of acme's
    assert "(5/6)" not in html and 'data-kpi="alerts">0<' in html


@pytest.mark.parametrize(("query", "message"), [
    ({"date_from": "yesterday"}, "&#x27;yesterday&#x27; is not a date; use YYYY-MM-DD"),
    ({"date_from": "2026-03-05", "date_to": "2026-03-04"}, "the start date 2026-03-05 is after the end date 2026-03-04"),
    ({"date_from": "2025-01-01", "date_to": "2026-03-04"}, "at most 92 are shown"),
])
def test_bad_dates_are_a_400_with_the_reason(acme, query, message):  # noqa: ANN001
    response = login(acme, "olga").get("/kpis/", query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_kpi_page_needs_a_login(acme):  # noqa: ANN001
    response = Client().get("/kpis/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")



def test_the_report_is_three_queries_whatever_the_number_of_alerts(history, django_assert_num_queries):  # noqa: ANN001
    olga = member(history, "olga")
    with tenant_scope(history.tenant.id):
        for i in range(20):
            alert(history.camera, at(i % 3, 12, i), AlertStatus.DISMISSED, ReasonCode.FP_CROWD, 10)
        with django_assert_num_queries(3):  # cameras, anomaly alerts, offline alerts
            report = kpi_report(membership=olga, **PERIOD)
    assert report.cameras[0].alerts + report.cameras[1].alerts == 27
