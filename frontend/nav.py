"""The portal's navigation: one list of sections, each shown to the roles that use it.

A context processor (``portal``) gives every template ``membership``, ``memberships`` (for the
tenant switcher) and ``nav`` (the sections this member's role may open, with the current one
marked). Which role may do what is still decided by the services; the menu only hides what a
role would be refused anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from tenants.models import Role

ALL_ROLES = frozenset(Role)
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


@dataclass(frozen=True)
class Section:
    label: str
    path: str
    roles: frozenset[str]


SECTIONS = (
    Section("Alerts", "/alerts/", ALL_ROLES),
    Section("Cameras", "/cameras/", ALL_ROLES),
    Section("Devices", "/devices/", ALL_ROLES),
    Section("Sites", "/sites/", ALL_ROLES),
    Section("Compliance", "/compliance/", frozenset({Role.OWNER, Role.ADMIN, Role.COMPLIANCE_OFFICER})),
    Section("KPIs", "/kpis/", ALL_ROLES),
    Section("Members", "/members/", MANAGERS),
    Section("Billing", "/billing/", frozenset({Role.OWNER})),
)

# Where a sign-in without ?next= lands: operators work the alert wall; the other roles start on home.
LANDING = {Role.OPERATOR: "/alerts/"}


def landing_path(request: HttpRequest) -> str:
    """The signed-in user's landing page for the tenant the session will open (as the tenant middleware picks it)."""
    from tenants.middleware import SESSION_TENANT_KEY
    from tenants.selectors import membership_resolve

    membership = membership_resolve(user=request.user, tenant_id=request.session.get(SESSION_TENANT_KEY))
    return LANDING.get(membership.role, "/") if membership is not None else "/"


def portal(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from tenants.selectors import memberships_of_user

    membership = getattr(request, "membership", None)
    role = membership.role if membership is not None else None
    nav = [{"label": s.label, "path": s.path, "current": request.path.startswith(s.path)}
           for s in SECTIONS if role in s.roles]
    return {"membership": membership, "memberships": memberships_of_user(user=user), "nav": nav}
