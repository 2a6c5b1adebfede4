"""Sign-ins into the audit log: ``user_logged_in`` and ``user_login_failed`` (Django auth signals).

A sign-in belongs to no single tenant: it is recorded in the log of every tenant the user is a
member of (``auth.login`` / ``auth.login_failed``), so each tenant's compliance officer sees
attempts on their members. A failed attempt for a username that matches no member is only logged
(``compliance.signals`` logger): there is no tenant whose log it belongs to.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from compliance.audit import audit_record_for_user

logger = logging.getLogger(__name__)


def _ip(request: Any) -> str | None:
    return getattr(request, "META", {}).get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in, dispatch_uid="compliance.audit.login")
def audit_login(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if user is not None:
        audit_record_for_user(user=user, action="auth.login", actor=user, target=user, ip=_ip(request))


@receiver(user_login_failed, dispatch_uid="compliance.audit.login_failed")
def audit_login_failed(sender: Any, credentials: dict[str, Any] | None = None, request: Any = None,
                       **kwargs: Any) -> None:
    model = get_user_model()
    username = str((credentials or {}).get(model.USERNAME_FIELD, "") or "")[:150]
    user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first() if username else None
    recorded = audit_record_for_user(user=user, action="auth.login_failed", target=user, ip=_ip(request),
                                     username=username) if user is not None else []
    if not recorded:
        logger.warning("auth.login_failed", extra={"username": username, "ip": _ip(request)})
