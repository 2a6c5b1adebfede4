"""What each role may do. One table, read by the API permissions and the portal."""

from __future__ import annotations

from enum import StrEnum

from tenants.models import Role


class Action(StrEnum):
    READ = "read"
    MANAGE_SITES = "manage_sites"  # sites, cameras, zones, shifts, edge devices
    MANAGE_MEMBERS = "manage_members"  # memberships, invitations, site grants
    HANDLE_ALERTS = "handle_alerts"  # acknowledge / dismiss
    MANAGE_COMPLIANCE = "manage_compliance"  # DPIA, Art. 30 record, retention, legal holds, erasure
    SIGN_DPIA = "sign_dpia"  # the DPO's sign-off (compliance officer; the owner of a small tenant)
    VIEW_AUDIT = "view_audit"  # search and export the audit log (owner, admin, compliance officer)


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: frozenset(Action) - {Action.SIGN_DPIA},
    Role.OPERATOR: frozenset({Action.READ, Action.HANDLE_ALERTS}),
    Role.COMPLIANCE_OFFICER: frozenset({Action.READ, Action.MANAGE_COMPLIANCE, Action.SIGN_DPIA,
                                        Action.VIEW_AUDIT}),
    Role.VIEWER: frozenset({Action.READ}),
}


def role_allows(role: str, action: Action) -> bool:
    return action in ROLE_ACTIONS.get(role, frozenset())


def require(member: object, action: Action) -> None:
    """Raise ``NotAllowed`` unless the member's role allows ``action``.

    Every service that changes something calls this with the acting membership, so the HTTP
    API, the websocket, the portal and Celery tasks share one check.
    """
    from tenants.errors import NotAllowed

    role = getattr(member, "role", "")
    if not role_allows(role, action):
        label = Role(role).label.lower() if role in Role.values else repr(role)
        raise NotAllowed(f"your role ({label}) does not allow this action ({action.value})")
