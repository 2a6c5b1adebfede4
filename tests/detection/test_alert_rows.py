"""The alert-wall rows the edge ingest builds without DRF are the API's AlertSerializer rows."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from detection.api.serializers import AlertSerializer, alert_rows
from detection.models import Alert, AlertStatus, ReasonCode
from tenants.scope import tenant_scope


def test_alert_rows_equal_the_api_serializer_for_every_shape_of_alert(acme):  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        Alert.objects.filter(id=acme.alert.id).update(
            status=AlertStatus.DISMISSED, reason_code=ReasonCode.FALSE_ALARM, note="shadow",
            handled_by=acme.users["olga"], handled_at=timezone.now(), ended_at=timezone.now() + timedelta(seconds=3),
            per_model={"flow": {"score": 1.5, "vote": True, "evidence": []}}, boxes=[[1, 2, 3, 4]])
        alerts = list(Alert.objects.select_related("camera", "zone", "handled_by").order_by("id"))
        assert {a.zone_id is None for a in alerts} == {True, False}  # with and without a zone
        assert {a.handled_by_id is None for a in alerts} == {True, False}  # handled and open
        expected = [dict(row) for row in AlertSerializer(alerts, many=True).data]
        assert alert_rows(alerts) == expected
        assert list(alert_rows(alerts)[0]) == list(expected[0])  # the same fields in the same order
