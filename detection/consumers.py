"""Live alert wall: pushes alert changes of the member's tenant; accepts ack/dismiss.

Connect resolves the tenant from the session (fails closed: no membership -> close 4403).
Every handler runs inside ``tenant_scope``; an alert of another tenant is "not found" (4404
in the reply), exactly like the HTTP API's 404.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer
from django.core.exceptions import ObjectDoesNotExist
from rest_framework.exceptions import ValidationError

from detection import services
from detection.api.serializers import AlertCloseSerializer, AlertSerializer
from tenants.middleware import SESSION_TENANT_KEY
from tenants.roles import Action, role_allows
from tenants.scope import tenant_scope
from tenants.selectors import membership_resolve, visibility

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_MEMBER = 4403


def alert_group(tenant_id: int) -> str:
    return f"alerts.tenant.{tenant_id}"


class AlertWallConsumer(JsonWebsocketConsumer):
    def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            self.close(code=CLOSE_UNAUTHENTICATED)
            return
        session = self.scope.get("session") or {}
        membership = membership_resolve(user=user, tenant_id=session.get(SESSION_TENANT_KEY))
        if membership is None:
            self.close(code=CLOSE_NOT_MEMBER)
            return
        self.membership = membership
        self.tenant_id = membership.tenant_id
        with tenant_scope(self.tenant_id):
            self.visibility = visibility(membership=membership)
        self.group = alert_group(self.tenant_id)
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()
        self.send_json({"type": "hello", "tenant": membership.tenant.slug, "role": membership.role})

    def disconnect(self, code: int) -> None:
        group = getattr(self, "group", None)
        if group:
            async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)

    def alert_changed(self, event: dict[str, Any]) -> None:
        alert = event["alert"]
        if not self.visibility.sees(site_id=alert.get("site"), camera_id=alert.get("camera")):
            return
        self.send_json({"type": "alert", "alert": alert})

    def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in {"acknowledge", "dismiss"}:
            self.send_json({"type": "error", "code": 4400, "detail": f"unknown message type {kind!r}; "
                            "use 'acknowledge' or 'dismiss'"})
            return
        if not role_allows(self.membership.role, Action.HANDLE_ALERTS):
            self.send_json({"type": "error", "code": 4403, "detail": "your role cannot handle alerts"})
            return
        data = AlertCloseSerializer(data=content)
        alert_id = content.get("alert_id")
        if not isinstance(alert_id, int) or not data.is_valid():
            errors = dict(data.errors) if not data.is_valid() else {}
            if not isinstance(alert_id, int):
                errors["alert_id"] = ["an integer alert id is required"]
            self.send_json({"type": "error", "code": 4400, "detail": errors})
            return
        service = services.alert_acknowledge if kind == "acknowledge" else services.alert_dismiss
        try:
            with tenant_scope(self.tenant_id):
                alert = service(alert_id=alert_id, by=self.scope["user"], **data.validated_data)
                payload = AlertSerializer(alert).data
        except ObjectDoesNotExist:
            self.send_json({"type": "error", "code": 4404, "detail": f"alert {alert_id} not found"})
            return
        except ValidationError as err:
            self.send_json({"type": "error", "code": 4400, "detail": err.detail})
            return
        self.send_json({"type": f"{kind}.ok", "alert": payload})
