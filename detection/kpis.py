"""KPIs of the detection service, per camera and per site, over a date range (selectors).

Definitions (the portal's /kpis/ page shows these numbers; tests assert them exactly):

- The period is ``date_from`` 00:00 UTC to ``date_to`` + 1 day 00:00 UTC (both days included).
- *alerts*: anomaly alerts (``Alert.kind == anomaly``) that started in the period; health alerts
  (device offline, stream lost) are not detections and only feed the uptime.
- *false alarms*: alerts dismissed with a false-alarm reason: ``FALSE_ALARM``, ``ENVIRONMENT`` and
  every ``fp_*`` reason code. Budget: under 2 per camera per day.
- *acknowledgement rate*: handled alerts (acknowledged or dismissed) / alerts. Target: above 80%.
- *false-alarm rate*: false alarms / handled alerts.
- *median time to acknowledge*: median of ``handled_at - started_at`` over handled alerts.
- *device uptime*: 1 - (time covered by the device's ``device_offline`` alerts) / (period length),
  both clipped to the period and to now (an open offline alert runs until now). A camera's uptime
  is its device's; a site's pools the devices of its visible cameras. Target: above 99.5%.

Every read goes through the member's visibility (site and camera grants), so a member restricted
to one site sees that site's KPIs only.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from detection.models import Alert, AlertKind, AlertStatus, ReasonCode
from tenants.errors import InvalidInput
from tenants.models import Membership
from tenants.selectors import visibility

FALSE_ALARM_BUDGET_PER_DAY = 2.0
ACK_RATE_TARGET = 0.80
UPTIME_TARGET = 0.995
MAX_PERIOD_DAYS = 92
DEFAULT_PERIOD_DAYS = 7


def false_alarm_reasons() -> frozenset[str]:
    """The dismiss reasons that mean "nothing happened": read from ReasonCode each call, so new
    ``fp_*`` codes count without touching this module."""
    codes = {ReasonCode.FALSE_ALARM.value, ReasonCode.ENVIRONMENT.value}
    return frozenset(codes | {c for c in ReasonCode.values if c.startswith("fp_")})


@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date  # included

    @property
    def since(self) -> datetime:
        return datetime.combine(self.date_from, time(0), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.date_to + timedelta(days=1), time(0), tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=i) for i in range((self.date_to - self.date_from).days + 1)]


def kpi_period(*, date_from: date | None = None, date_to: date | None = None, today: date | None = None) -> Period:
    """The period asked for; the last 7 days (today included) when no date is given."""
    today = today or timezone.now().astimezone(UTC).date()
    date_to = date_to or today
    date_from = date_from or date_to - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if date_from > date_to:
        raise InvalidInput.field("date_from", f"the start date {date_from} is after the end date {date_to}")
    if (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput.field(
            "date_from", f"the period has {(date_to - date_from).days + 1} days; at most {MAX_PERIOD_DAYS} are shown")
    return Period(date_from, date_to)


@dataclass
class Kpis:
    """One camera's or one site's KPIs over the period."""

    id: int
    name: str
    site_name: str
    cameras: int  # how many cameras the numbers cover (1 for a camera)
    days: list[date]
    alerts_by_day: list[int] = field(default_factory=list)
    false_alarms_by_day: list[int] = field(default_factory=list)
    alerts: int = 0
    handled: int = 0
    false_alarms: int = 0
    median_ack_seconds: float | None = None
    uptime: float | None = None  # None: no device

    @property
    def ack_rate(self) -> float | None:
        return self.handled / self.alerts if self.alerts else None

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.handled if self.handled else None

    @property
    def false_alarms_per_camera_day(self) -> float:
        return self.false_alarms / (self.cameras * len(self.days)) if self.cameras else 0.0

    @property
    def uptime_percent(self) -> float | None:
        return None if self.uptime is None else self.uptime * 100

    @property
    def within_budget(self) -> bool:
        return self.false_alarms_per_camera_day < FALSE_ALARM_BUDGET_PER_DAY

    @property
    def ack_ok(self) -> bool | None:
        return None if self.ack_rate is None else self.ack_rate > ACK_RATE_TARGET

    @property
    def uptime_ok(self) -> bool | None:
        return None if self.uptime is None else self.uptime > UPTIME_TARGET


@dataclass(frozen=True)
class KpiReport:
    period: Period
    cameras: list[Kpis]
    sites: list[Kpis]


def kpi_report(*, membership: Membership, date_from: date | None = None, date_to: date | None = None) -> KpiReport:
    """Per-camera and per-site KPIs of the cameras the member sees (three queries, plus the
    guardian look-ups of a member limited to some sites)."""
    from cameras.selectors import camera_list

    period = kpi_period(date_from=date_from, date_to=date_to)
    cameras = list(camera_list(membership=membership).select_related("site").order_by("site__name", "name", "id"))
    rows = _alert_rows(membership=membership, period=period)
    offline = _offline_seconds(period=period, device_ids={c.device_id for c in cameras})
    span = _uptime_span(period)

    by_camera = {c.id: _new(c.id, c.name, c.site.name, 1, period) for c in cameras}
    ack_seconds: dict[int, list[float]] = defaultdict(list)
    fa = false_alarm_reasons()
    for camera_id, started_at, status, reason, handled_at in rows:
        kpis = by_camera.get(camera_id)
        if kpis is None:
            continue
        _count(kpis, period, started_at, status, reason, handled_at, fa, ack_seconds[camera_id])
    for camera in cameras:
        kpis = by_camera[camera.id]
        kpis.median_ack_seconds = statistics.median(ack_seconds[camera.id]) if ack_seconds[camera.id] else None
        if camera.device_id is not None and span > 0:
            kpis.uptime = 1 - offline.get(camera.device_id, 0.0) / span

    sites: dict[int, Kpis] = {}
    site_ack: dict[int, list[float]] = defaultdict(list)
    site_devices: dict[int, set[int]] = defaultdict(set)
    for camera in cameras:
        kpis = by_camera[camera.id]
        site = sites.get(camera.site_id)
        if site is None:
            site = sites[camera.site_id] = _new(camera.site_id, camera.site.name, camera.site.name, 0, period)
        site.cameras += 1
        site.alerts += kpis.alerts
        site.handled += kpis.handled
        site.false_alarms += kpis.false_alarms
        site.alerts_by_day = [a + b for a, b in zip(site.alerts_by_day, kpis.alerts_by_day, strict=True)]
        site.false_alarms_by_day = [a + b for a, b in zip(site.false_alarms_by_day, kpis.false_alarms_by_day,
                                                          strict=True)]
        site_ack[camera.site_id] += ack_seconds[camera.id]
        if camera.device_id is not None:
            site_devices[camera.site_id].add(camera.device_id)
    for site_id, site in sites.items():
        site.median_ack_seconds = statistics.median(site_ack[site_id]) if site_ack[site_id] else None
        devices = site_devices[site_id]
        if devices and span > 0:
            site.uptime = 1 - sum(offline.get(d, 0.0) for d in devices) / (span * len(devices))
    return KpiReport(period=period, cameras=list(by_camera.values()), sites=list(sites.values()))


def _new(id_: int, name: str, site_name: str, cameras: int, period: Period) -> Kpis:
    n = len(period.days)
    return Kpis(id=id_, name=name, site_name=site_name, cameras=cameras, days=period.days,
                alerts_by_day=[0] * n, false_alarms_by_day=[0] * n)


def _count(kpis: Kpis, period: Period, started_at: datetime, status: str, reason: str,
           handled_at: datetime | None, fa: frozenset[str], ack_seconds: list[float]) -> None:
    day = (started_at.astimezone(UTC).date() - period.date_from).days
    kpis.alerts += 1
    kpis.alerts_by_day[day] += 1
    if status in (AlertStatus.ACKNOWLEDGED, AlertStatus.DISMISSED):
        kpis.handled += 1
        if handled_at is not None:
            ack_seconds.append((handled_at - started_at).total_seconds())
        if status == AlertStatus.DISMISSED and reason in fa:
            kpis.false_alarms += 1
            kpis.false_alarms_by_day[day] += 1


def _alert_rows(*, membership: Membership, period: Period) -> list[tuple]:
    qs = visibility(membership=membership).limit(
        Alert.objects.filter(kind=AlertKind.ANOMALY, started_at__gte=period.since, started_at__lt=period.until),
        site_field="camera__site_id", camera_field="camera_id")
    return list(qs.order_by().values_list("camera_id", "started_at", "status", "reason_code", "handled_at"))


def _uptime_span(period: Period) -> float:
    end = min(period.until, timezone.now())
    return max(0.0, (end - period.since).total_seconds())


def _offline_seconds(*, period: Period, device_ids: set[int | None]) -> dict[int, float]:
    """Seconds each device was offline in the period (its offline alerts merged, clipped)."""
    ids = {d for d in device_ids if d is not None}
    if not ids:
        return {}
    end = min(period.until, timezone.now())
    rows = (Alert.objects.filter(kind=AlertKind.DEVICE_OFFLINE, device_id__in=ids, started_at__lt=end)
            .exclude(ended_at__lte=period.since).order_by("device_id", "started_at")
            .values_list("device_id", "started_at", "ended_at"))
    intervals: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for device_id, started_at, ended_at in rows:
        start, stop = max(started_at, period.since), min(ended_at or end, end)
        if stop > start:
            intervals[device_id].append((start, stop))
    result: dict[int, float] = {}
    for device_id, spans in intervals.items():
        total, cur_start, cur_stop = 0.0, spans[0][0], spans[0][1]
        for start, stop in spans[1:]:
            if start <= cur_stop:
                cur_stop = max(cur_stop, stop)
            else:
                total += (cur_stop - cur_start).total_seconds()
                cur_start, cur_stop = start, stop
        result[device_id] = total + (cur_stop - cur_start).total_seconds()
    return result
