"""Signing out closes the websockets opened with that login session (``tenants.live``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from tenants.live import session_sockets_close


@receiver(user_logged_out, dispatch_uid="tenants.close_sockets_on_logout")
def close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:  # logout() sends this signal before it flushes the session
        session_sockets_close(session_key=key)
