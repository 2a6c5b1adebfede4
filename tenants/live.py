"""Live-push helpers shared by services and websocket consumers (a leaf module: imports no service).

Group names (Channels allows ASCII letters, digits, ``-``, ``_`` and ``.``):

- ``member.<membership id>``: every open socket of one membership. Services send
  ``member.revoked`` here when the member is removed, demoted or their site grants change; the
  consumer closes with ``CLOSE_RIGHTS_CHANGED`` and the client reconnects with its new rights.
- ``session.<sha256 of the session key>``: every socket opened with one login session; logout
  closes them with ``CLOSE_LOGGED_OUT``. The session key itself never becomes a group name.

Messages are sent after the transaction commits, so a rolled-back change closes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_MEMBER = 4403
CLOSE_RIGHTS_CHANGED = 4408
CLOSE_LOGGED_OUT = 4410


def member_group(membership_id: int) -> str:
    return f"member.{membership_id}"


def session_group(session_key: str) -> str:
    return f"session.{hashlib.sha256(session_key.encode()).hexdigest()[:40]}"


def group_send_on_commit(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to ``group`` once the current transaction commits (now, outside one)."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:  # no channel layer configured: nobody can be listening
            return
        async_to_sync(layer.group_send)(group, message)

    transaction.on_commit(send)


def member_sockets_close(*, membership_id: int, reason: str) -> None:
    logger.info("member.sockets_close", extra={"membership_id": membership_id, "reason": reason})
    group_send_on_commit(member_group(membership_id),
                         {"type": "member.revoked", "code": CLOSE_RIGHTS_CHANGED, "reason": reason})


def session_sockets_close(*, session_key: str) -> None:
    group_send_on_commit(session_group(session_key),
                         {"type": "member.revoked", "code": CLOSE_LOGGED_OUT, "reason": "signed out"})
