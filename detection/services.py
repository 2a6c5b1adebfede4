"""Writes for alerts: the operator's acknowledge / dismiss workflow."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from detection.models import ACK_REASONS, DISMISS_REASONS, Alert, AlertStatus


class AlertAlreadyHandled(ValidationError):
    pass


def _close(*, alert_id: int, by: AbstractBaseUser, status: str, reason: str, allowed: frozenset[str],
           note: str) -> Alert:
    if reason not in allowed:
        raise ValidationError({"reason": [f"{reason!r} is not a reason for {status}; use one of {sorted(allowed)}"]})
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(id=alert_id)  # scoped: another tenant's is 404
        if alert.status != AlertStatus.OPEN:
            raise AlertAlreadyHandled({"status": [f"alert {alert_id} is already {alert.status}"]})
        alert.status = status
        alert.reason_code = reason
        alert.note = note
        alert.handled_by = by
        alert.handled_at = timezone.now()
        alert.save(update_fields=["status", "reason_code", "note", "handled_by", "handled_at"])
        alert_broadcast(alert=alert)
    return alert


def alert_broadcast(*, alert: Alert) -> None:
    """After commit, push the alert's state to the tenant's live alert walls (websocket group)."""
    from detection.api.serializers import AlertSerializer
    from detection.consumers import alert_group

    payload = dict(AlertSerializer(alert).data)
    message = {"type": "alert.changed", "alert": payload}
    group = alert_group(alert.tenant_id)
    transaction.on_commit(lambda: async_to_sync(get_channel_layer().group_send)(group, message))


def alert_acknowledge(*, alert_id: int, by: AbstractBaseUser, reason: str, note: str = "") -> Alert:
    return _close(alert_id=alert_id, by=by, status=AlertStatus.ACKNOWLEDGED, reason=reason,
                  allowed=ACK_REASONS, note=note)


def alert_dismiss(*, alert_id: int, by: AbstractBaseUser, reason: str, note: str = "") -> Alert:
    return _close(alert_id=alert_id, by=by, status=AlertStatus.DISMISSED, reason=reason,
                  allowed=DISMISS_REASONS, note=note)
