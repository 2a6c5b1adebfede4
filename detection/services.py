"""Writes for alerts: the operator's acknowledge / dismiss workflow.

Every function takes the acting ``member`` (a Membership) and enforces both halves of
authorization itself: the alert must be visible to the member (tenant scope + site/camera grants,
else ``NotFound``) and the role must allow handling alerts (else ``NotAllowed``). The HTTP API, the
alert-wall websocket and the portal all call these functions.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from compliance.audit import audit_record
from detection.live import alert_push
from detection.models import ACK_REASONS, DISMISS_REASONS, Alert, AlertStatus
from detection.selectors import alert_list
from tenants.errors import Conflict, InvalidInput, NotFound
from tenants.models import Membership
from tenants.roles import Action, require


def _close(*, member: Membership, alert_id: int, status: str, reason: str, allowed: frozenset[str],
           note: str) -> Alert:
    visible = alert_list(membership=member).filter(id=alert_id)
    if not visible.exists():  # another tenant's, another site's, or no such alert: all the same
        raise NotFound(f"alert {alert_id} not found")
    require(member, Action.HANDLE_ALERTS)
    if reason not in allowed:
        raise InvalidInput.field("reason", f"{reason!r} is not a reason for {status}; use one of {sorted(allowed)}")
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(id=alert_id)
        if alert.status != AlertStatus.OPEN:
            raise Conflict({"status": [f"alert {alert_id} is already {alert.status}"]})
        alert.status = status
        alert.reason_code = reason
        alert.note = note
        alert.handled_by = member.user
        alert.handled_at = timezone.now()
        alert.save(update_fields=["status", "reason_code", "note", "handled_by", "handled_at"])
        verb = "acknowledge" if status == AlertStatus.ACKNOWLEDGED else "dismiss"
        audit_record(tenant_id=alert.tenant_id, action=f"alert.{verb}", actor=member, target=alert,
                     before={"status": AlertStatus.OPEN}, after={"status": status, "reason_code": reason, "note": note})
        alert_broadcast(alert=alert)
    return alert


def alert_broadcast(*, alert: Alert) -> None:
    """After commit, push the alert's state to the tenant's live alert walls."""
    from detection.api.serializers import AlertSerializer

    alert_push(tenant_id=alert.tenant_id, payload=dict(AlertSerializer(alert).data))


def alert_acknowledge(*, member: Membership, alert_id: int, reason: str, note: str = "") -> Alert:
    return _close(member=member, alert_id=alert_id, status=AlertStatus.ACKNOWLEDGED, reason=reason,
                  allowed=ACK_REASONS, note=note)


def alert_dismiss(*, member: Membership, alert_id: int, reason: str, note: str = "") -> Alert:
    return _close(member=member, alert_id=alert_id, status=AlertStatus.DISMISSED, reason=reason,
                  allowed=DISMISS_REASONS, note=note)
