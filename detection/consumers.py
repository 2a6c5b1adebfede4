"""Live alert wall: pushes alert changes of the member's tenant; accepts acknowledge / dismiss.

Rights are read again on every message and every push, never kept from ``connect``:

- An owner or admin of a tenant that requires a second factor must have signed this session in
  with it (``tenants.twofactor``), as for the portal pages and the session API: else close 4403
  at connect, and refusal on the next message or push if the rule is turned on later.
- ``connect`` resolves the membership from the session (not signed in: close 4401; no tenant:
  close 4403) and joins three groups: the tenant's alerts, the member's, and the login session's
  (``tenants.live``).
- Each message re-reads the membership (still a member? role?) and calls the same services as the
  HTTP API, which check visibility (4404) and role (4403) themselves.
- Each push is forwarded only if the member can see the alert's site or camera. For pushes the
  rights are read at most every ``ALERT_WALL_RIGHTS_TTL_S`` (1 s): a busy site pushes many times
  a second to every open wall, and three queries per push per wall on the process's one database
  thread made the walls fall seconds behind. Changes made through the services close the socket
  at once (below); one written straight to the database applies to pushes within that second
  and to the next message at once.
- Removing or demoting a member, changing their site grants, or signing out closes the sockets
  (4408 rights changed, 4410 signed out); the client reconnects with its current rights.

Bad frames are answered with an ``error`` reply (code 4400), never a server-side close.
"""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from compliance.audit import audit_ip
from detection import services
from detection.api.serializers import AlertSerializer
from detection.live import alert_group
from detection.models import ReasonCode
from tenants.errors import VadError, ws_error_reply
from tenants.live import CLOSE_NOT_MEMBER, CLOSE_UNAUTHENTICATED, member_group, session_group
from tenants.middleware import SESSION_TENANT_KEY
from tenants.models import Membership
from tenants.scope import tenant_scope
from tenants.selectors import membership_current, membership_resolve, visibility
from tenants.twofactor import second_factor_required, session_second_factor_verified
from vadcloud.jsonlimits import MAX_WS_MESSAGE_BYTES, JsonLimitError, parse_json_limited

MAX_ID = 2**63 - 1


def rights_ttl_s() -> float:
    return float(getattr(settings, "ALERT_WALL_RIGHTS_TTL_S", 1.0))


class AlertCloseMessage(BaseModel):
    """``{"type": "acknowledge" | "dismiss", "alert_id": 1, "reason": "...", "note": "..."}``."""

    model_config = ConfigDict(extra="forbid")

    type: str
    alert_id: int = Field(ge=1, le=MAX_ID, strict=True)
    reason: ReasonCode
    note: str = Field(default="", max_length=2000)


def _pydantic_errors(err: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for item in err.errors():
        field = ".".join(str(part) for part in item["loc"]) or "message"
        errors.setdefault(field, []).append(item["msg"])
    return errors


class AlertWallConsumer(AsyncJsonWebsocketConsumer):
    """Async, so a push is filtered and sent on the event loop: a busy site pushes many times a
    second to every open wall, and as a sync consumer each push was a hop to the process's one
    shared database thread and back (two ``close_old_connections``, ``async_to_sync`` for the
    send), where the walls queued behind each other and behind every other database call of the
    process. What reads the database (admission, the rights behind pushes, acknowledge/dismiss)
    runs in ``database_sync_to_async``, exactly as before."""

    async def connect(self) -> None:
        refusal = await database_sync_to_async(self._admit)()
        if refusal is not None:
            await self.close(code=refusal)
            return
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json(self.hello)

    def _admit(self) -> int | None:
        """Resolve the member from the session; the close code refusing them, or None."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return CLOSE_UNAUTHENTICATED
        session = self.scope.get("session")
        membership = membership_resolve(user=user, tenant_id=session.get(SESSION_TENANT_KEY) if session else None)
        if membership is None:
            return CLOSE_NOT_MEMBER
        self.otp_verified = session_second_factor_verified(user=user, session=session)
        if second_factor_required(membership=membership) and not self.otp_verified:
            return CLOSE_NOT_MEMBER  # the tenant's 2FA rule, as for the portal and the session API
        self.membership_id = membership.id
        self.user_id = user.id
        self.tenant_id = membership.tenant_id
        self.session_key = session.session_key if session is not None else None
        self.joined = [alert_group(self.tenant_id), member_group(membership.id)]
        if self.session_key:
            self.joined.append(session_group(self.session_key))
        self.hello = {"type": "hello", "tenant": membership.tenant.slug, "role": membership.role}
        return None

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    def current_member(self) -> Membership | None:
        """The membership as it is now, or None when removed or signed out."""
        session = self.scope.get("session")
        if self.session_key and session is not None and not session.exists(self.session_key):
            return None  # signed out (the session is gone) even if the close message was lost
        member = membership_current(membership_id=self.membership_id, user_id=self.user_id)
        if member is not None and not self.otp_verified and second_factor_required(membership=member):
            return None  # the tenant turned its 2FA rule on (or promoted this member) since connect
        return member

    def _push_rights(self) -> Any:
        member = self.current_member()
        if member is None:
            return None
        with tenant_scope(self.tenant_id):
            return visibility(membership=member).sees

    async def push_filter(self) -> Any:
        """``sees(site_id=, camera_id=)`` for pushes, or None when no longer a member; the rights
        behind it are at most ``rights_ttl_s`` old."""
        now = time.monotonic()
        cached = getattr(self, "_rights", None)
        if cached is not None and now - cached[0] < rights_ttl_s():
            return cached[1]
        sees = await database_sync_to_async(self._push_rights)()
        self._rights = (now, sees)
        return sees

    async def member_revoked(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "closing", "code": event["code"], "detail": event["reason"]})
        await self.close(code=event["code"])

    async def alert_changed(self, event: dict[str, Any]) -> None:
        await self.alerts_changed({"alerts": [event["alert"]]}, single=True)

    async def alerts_changed(self, event: dict[str, Any], single: bool = False) -> None:
        """A coalesced push (one group commit's alerts of this tenant): each alert is filtered by
        the member's visibility, one ``alerts`` frame goes out (``alert`` for a single change)."""
        sees = await self.push_filter()
        if sees is None:
            await self.close(code=CLOSE_NOT_MEMBER)
            return
        alerts = [a for a in event["alerts"] if sees(site_id=a.get("site"), camera_id=a.get("camera"))]
        if alerts and single:
            await self.send_json({"type": "alert", "alert": alerts[0]})
        elif alerts:
            await self.send_json({"type": "alerts", "alerts": alerts})

    async def devices_changed(self, event: dict[str, Any]) -> None:
        """Device status changes (detection.health, coalesced per sweep): one ``devices`` frame
        with the devices of the sites the member sees (rights at most ``rights_ttl_s`` old)."""
        sees = await self.push_filter()
        if sees is None:
            await self.close(code=CLOSE_NOT_MEMBER)
            return
        devices = [d for d in event["devices"] if sees(site_id=d.get("site"))]
        if devices:
            await self.send_json({"type": "devices", "devices": devices})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None:
            await self.send_json({"type": "error", "code": 4400, "detail": "send JSON text frames, not binary"})
            return
        try:
            content = parse_json_limited(text_data, max_bytes=MAX_WS_MESSAGE_BYTES)
        except JsonLimitError as err:
            await self.send_json({"type": "error", "code": 4400, "detail": str(err)})
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        reply, close = await database_sync_to_async(self._handle)(content)
        await self.send_json(reply)
        if close is not None:
            await self.close(code=close)

    def _handle(self, content: Any) -> tuple[dict[str, Any], int | None]:
        """The reply to one message, and the close code when the socket must close after it."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind not in {"acknowledge", "dismiss"}:
            return {"type": "error", "code": 4400, "detail": f"unknown message type {kind!r}; "
                    "use 'acknowledge' or 'dismiss'"}, None
        member = self.current_member()
        if member is None:
            return {"type": "error", "code": CLOSE_NOT_MEMBER, "detail": "you are no longer a member"}, CLOSE_NOT_MEMBER
        try:
            msg = AlertCloseMessage.model_validate(content)
        except ValidationError as err:
            return {"type": "error", "code": 4400, "detail": _pydantic_errors(err)}, None
        service = services.alert_acknowledge if kind == "acknowledge" else services.alert_dismiss
        try:
            with tenant_scope(self.tenant_id), audit_ip((self.scope.get("client") or [None])[0]):
                alert = service(member=member, alert_id=msg.alert_id, reason=msg.reason, note=msg.note)
                payload = AlertSerializer(alert).data
        except VadError as err:
            return ws_error_reply(err), None
        return {"type": f"{kind}.ok", "alert": payload}, None
