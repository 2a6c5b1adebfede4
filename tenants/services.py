"""Writes for tenants, memberships and invitations. Keyword-only, one transaction each."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from compliance.audit import audit_record, audit_record_for_user, snapshot
from tenants.errors import Conflict, InvalidInput, NotAllowed, NotAuthenticated, NotFound
from tenants.live import member_sockets_close
from tenants.models import ApiToken, Invitation, Membership, Role, Site, Tenant
from tenants.roles import Action, require
from tenants.scope import tenant_scope
from tenants.selectors import CAMERA_VIEW_PERM, SITE_VIEW_PERM, site_list

INVITATION_TTL = timedelta(days=7)
# Fields kept in the audit log's before/after snapshots (compliance.audit).
TENANT_AUDIT = ("name", "slug", "data_region", "require_2fa_for_managers")
SITE_AUDIT = ("name", "address", "timezone", "jurisdiction")
MEMBERSHIP_AUDIT = ("user", "role", "all_sites")
INVITATION_AUDIT = ("email", "role", "expires_at")


def tenant_create(*, name: str, slug: str, data_region: str, owner: AbstractBaseUser) -> Tenant:
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name, slug=slug, data_region=data_region)
        with tenant_scope(tenant.id):
            Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
            audit_record(tenant_id=tenant.id, action="tenant.create", actor=owner, target=tenant,
                         after=snapshot(tenant, TENANT_AUDIT))
    return tenant


def tenant_update(*, member: Membership, **fields: Any) -> Tenant:
    """Rename the member's tenant (owners and admins)."""
    require(member, Action.MANAGE_MEMBERS)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(id=member.tenant_id)
        before = snapshot(tenant, TENANT_AUDIT)
        for name, value in fields.items():
            setattr(tenant, name, value)
        tenant.save()
        audit_record(tenant_id=tenant.id, action="tenant.update", actor=member, target=tenant, before=before,
                     after=snapshot(tenant, TENANT_AUDIT))
    return tenant


def site_create(*, member: Membership, **fields: Any) -> Site:
    require(member, Action.MANAGE_SITES)
    from tenants.billing.services import billing_require_writable

    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    with transaction.atomic():
        site = Site.objects.create(tenant_id=member.tenant_id, **fields)
        audit_record(tenant_id=site.tenant_id, action="site.create", actor=member, target=site,
                     after=snapshot(site, SITE_AUDIT))
    return site


def site_update(*, member: Membership, site_id: int, **fields: Any) -> Site:
    require(member, Action.MANAGE_SITES)
    from tenants.billing.services import billing_require_writable

    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    with transaction.atomic():
        site = site_list(membership=member).select_for_update().filter(id=site_id).first()
        if site is None:
            raise NotFound(f"site {site_id} not found")
        before = snapshot(site, SITE_AUDIT)
        for name, value in fields.items():
            setattr(site, name, value)
        site.save()
        audit_record(tenant_id=site.tenant_id, action="site.update", actor=member, target=site, before=before,
                     after=snapshot(site, SITE_AUDIT))
        # The signed device config carries the site and its resolved policy (jurisdiction,
        # locality): re-resolve and push. cameras.live is a leaf module (no service, no model).
        from cameras.live import edge_config_changed

        edge_config_changed(device_ids=site.devices.values_list("id", flat=True))
    return site


def site_delete(*, member: Membership, site_id: int) -> None:
    """Delete a site with its cameras, zones, shifts, devices and alerts (cascade)."""
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        site = site_list(membership=member).select_for_update().filter(id=site_id).first()
        if site is None:
            raise NotFound(f"site {site_id} not found")
        audit_record(tenant_id=site.tenant_id, action="site.delete", actor=member, target=site,
                     before=snapshot(site, SITE_AUDIT))
        site.delete()
        from tenants.billing.services import billing_cameras_changed

        billing_cameras_changed(tenant_id=member.tenant_id)  # its cameras went with it


def membership_update(*, actor: Membership, membership_id: int, role: str | None = None,
                      all_sites: bool | None = None, site_ids: list[int] | None = None,
                      camera_ids: list[int] | None = None) -> Membership:
    """Change a member's role and site/camera restriction (grants are guardian object perms).

    Owner rules: only an owner grants, changes or removes the owner role; an admin never changes
    an owner; the last owner stays. The member's open sockets are closed after commit so they
    reconnect with the new rights.
    """
    require(actor, Action.MANAGE_MEMBERS)
    with transaction.atomic():
        membership = _membership_for_update(membership_id)
        _guard_owner(actor=actor, target=membership, new_role=role)
        before = snapshot(membership, MEMBERSHIP_AUDIT)
        if role is not None and role != membership.role:
            if membership.role == Role.OWNER:
                _ensure_another_owner(membership)
            membership.role = role
        if all_sites is not None:
            membership.all_sites = all_sites
        membership.save()
        if site_ids is not None:
            _grant(membership, Site, SITE_VIEW_PERM, site_ids, field="site_ids")
        if camera_ids is not None:
            from cameras.models import Camera

            _grant(membership, Camera, CAMERA_VIEW_PERM, camera_ids, field="camera_ids")
        audit_record(tenant_id=membership.tenant_id, action="membership.update", actor=actor, target=membership,
                     before=before, after=snapshot(membership, MEMBERSHIP_AUDIT), site_ids=site_ids, camera_ids=camera_ids)
        member_sockets_close(membership_id=membership.id, reason="your role or site access changed")
    return membership


def membership_delete(*, actor: Membership, membership_id: int) -> None:
    require(actor, Action.MANAGE_MEMBERS)
    with transaction.atomic():
        membership = _membership_for_update(membership_id)
        _guard_owner(actor=actor, target=membership, new_role=None)
        if membership.role == Role.OWNER:
            _ensure_another_owner(membership)
        from cameras.models import Camera

        _grant(membership, Site, SITE_VIEW_PERM, [], field="site_ids")
        _grant(membership, Camera, CAMERA_VIEW_PERM, [], field="camera_ids")
        member_sockets_close(membership_id=membership.id, reason="you were removed from this tenant")
        audit_record(tenant_id=membership.tenant_id, action="membership.delete", actor=actor, target=membership,
                     before=snapshot(membership, MEMBERSHIP_AUDIT))
        membership.delete()


def _membership_for_update(membership_id: int) -> Membership:
    membership = Membership.objects.select_for_update().select_related("user").filter(id=membership_id).first()
    if membership is None:
        raise NotFound(f"membership {membership_id} not found")
    return membership


def _guard_owner(*, actor: Membership, target: Membership, new_role: str | None) -> None:
    """Only an owner touches the owner role: grants it, changes an owner, removes an owner."""
    if actor.role == Role.OWNER:
        return
    if target.role == Role.OWNER:
        raise NotAllowed("only an owner can change or remove an owner")
    if new_role == Role.OWNER:
        raise NotAllowed("only an owner can grant the owner role")


def _ensure_another_owner(membership: Membership) -> None:
    # Lock the owner rows: two owners demoting each other at once cannot both succeed.
    owners = list(Membership.objects.select_for_update().filter(role=Role.OWNER).values_list("id", flat=True))
    if not set(owners) - {membership.id}:
        raise InvalidInput.field("role", "a tenant must keep at least one owner; make someone else owner first")


def _grant(membership: Membership, model: type, perm: str, ids: list[int], *, field: str) -> None:
    """Make the member's ``perm`` grants on ``model`` exactly ``ids`` (tenant objects only).

    Uses guardian's bulk forms: a fixed number of queries whatever the size of the tenant.
    """
    wanted = set(ids)
    granted = list(model.objects.filter(id__in=wanted))
    if unknown := sorted(wanted - {obj.id for obj in granted}):
        raise InvalidInput.field(field, f"unknown id(s) {unknown}")
    remove_perm(perm, membership.user, model.objects.exclude(id__in=wanted))
    if granted:
        assign_perm(perm, membership.user, granted)


def invitation_create(*, actor: Membership, email: str, role: str) -> Invitation:
    from tenants.tasks import invitation_send

    require(actor, Action.MANAGE_MEMBERS)
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise NotAllowed("only an owner can invite an owner")
    with transaction.atomic():
        invitation = Invitation.objects.create(
            tenant_id=actor.tenant_id,
            email=email.lower(),
            role=role,
            token=secrets.token_urlsafe(32),
            invited_by=actor.user,
            expires_at=timezone.now() + INVITATION_TTL,
        )
        audit_record(tenant_id=invitation.tenant_id, action="invitation.create", actor=actor, target=invitation,
                     after=snapshot(invitation, INVITATION_AUDIT))
        transaction.on_commit(
            lambda: invitation_send.delay(tenant_id=invitation.tenant_id, invitation_id=invitation.id)
        )
    return invitation


def invitation_delete(*, actor: Membership, invitation_id: int) -> None:
    """Withdraw an invitation; its link stops working at once."""
    require(actor, Action.MANAGE_MEMBERS)
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(id=invitation_id).first()
        if invitation is None:
            raise NotFound(f"invitation {invitation_id} not found")
        if invitation.role == Role.OWNER and actor.role != Role.OWNER:
            raise NotAllowed("only an owner can withdraw an invitation to the owner role")
        audit_record(tenant_id=invitation.tenant_id, action="invitation.delete", actor=actor, target=invitation,
                     before=snapshot(invitation, INVITATION_AUDIT))
        invitation.delete()


def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """Accept an invitation: single use, unexpired, and only by the user it was sent to.

    The token finds the invitation (platform path, before any tenant scope); the signed-in
    user's email must match the invited one, case-insensitively.
    """
    with transaction.atomic():
        invitation = _open_invitation(token, lock=True)
        if (user.email or "").strip().lower() != invitation.email.lower():
            raise NotAllowed("this invitation was sent to a different email address; "
                             "sign in as the invited user to accept it")
        with tenant_scope(invitation.tenant_id):
            membership, created = Membership.objects.get_or_create(
                user=user, defaults={"role": invitation.role, "tenant_id": invitation.tenant_id}
            )
            if not created:
                raise Conflict({"token": ["you are already a member of this tenant"]})
            invitation.accepted_at = timezone.now()
            invitation.accepted_by = user
            invitation.save(update_fields=["accepted_at", "accepted_by"])
            audit_record(tenant_id=invitation.tenant_id, action="invitation.accept", actor=user, target=invitation,
                         after=snapshot(membership, MEMBERSHIP_AUDIT), membership_id=membership.id)
    return membership


def invitation_accept_as_new_user(*, token: str, username: str, password: str) -> Membership:
    """A new person sets a username and password and joins; the account gets the invited email."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError as DjangoValidationError

    user_model = get_user_model()
    with transaction.atomic():
        invitation = _open_invitation(token, lock=True)
        if user_model.objects.filter(email__iexact=invitation.email).exists():
            raise Conflict("an account with the invited email exists already; sign in to accept")
        username = username.strip()
        if not username or len(username) > 150:
            raise InvalidInput.field("username", "choose a username of 1 to 150 characters")
        if user_model.objects.filter(username__iexact=username).exists():
            raise InvalidInput.field("username", f"the username {username!r} is taken")
        candidate = user_model(username=username, email=invitation.email)
        try:
            validate_password(password, user=candidate)
        except DjangoValidationError as err:
            raise InvalidInput({"password": list(err.messages)}) from None
        candidate.set_password(password)
        candidate.save()
        return invitation_accept(token=token, user=candidate)


def _open_invitation(token: str, *, lock: bool = False) -> Invitation:
    qs = Invitation.unscoped_objects.select_related("tenant")
    if lock:
        qs = qs.select_for_update(of=("self",))
    invitation = qs.filter(token=token).first() if token else None
    if invitation is None:
        raise NotFound("invitation not found; check the link or ask for a new invitation")
    if invitation.accepted_at is not None:
        raise NotFound("this invitation has already been used")
    if invitation.expires_at <= timezone.now():
        raise NotFound(f"this invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one")
    return invitation


def invitation_for_token(*, token: str) -> Invitation:
    """The open invitation behind ``token`` (for the invitation page), else ``NotFound``."""
    return _open_invitation(token)


# --- personal API tokens (a user's, not a tenant's) -------------------------------------------

API_TOKEN_PREFIX = "vad_"
API_TOKEN_VISIBLE = len(API_TOKEN_PREFIX) + 8  # "vad_" + 8 characters, shown in lists
API_TOKEN_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most once a minute


def api_token_hash(secret: str) -> str:
    """The secret has 256 random bits, so a plain SHA-256 (no salt, no slow hash) is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str,
                     expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it with its secret, which is stored only hashed and so
    can be shown this once."""
    name = name.strip()
    if not name:
        raise InvalidInput.field("name", "give the token a name that says where it is used, e.g. 'ci' or 'grafana'")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput.field(
            "expires_at", f"expires_at {expires_at.isoformat()} is not in the future; omit it for a token that never expires"
        )
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=secret[:API_TOKEN_VISIBLE],
                                        secret_hash=api_token_hash(secret), expires_at=expires_at)
        audit_record_for_user(user=user, action="api_token.create", actor=user, target=token,
                              after={"name": name, "prefix": token.prefix, "expires_at": expires_at})
    return token, secret


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revoke one of the user's own active tokens; any other id (another user's, revoked,
    unknown) is ``NotFound``, so token ids of other users cannot be probed."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(id=token_id, user=user, revoked_at=None).first()
        if token is None:
            raise NotFound(f"token {token_id} is not one of your active tokens")
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record_for_user(user=user, action="api_token.revoke", actor=user, target=token,
                              before={"name": token.name, "prefix": token.prefix})
    return token


def api_token_authenticate(*, secret: str) -> ApiToken:
    """The active token behind ``secret`` (with its user), else ``NotAuthenticated`` saying why.

    Records ``last_used_at``; the write is part of the request's transaction, so it tracks the
    last request that succeeded.
    """
    token = ApiToken.objects.select_related("user").filter(secret_hash=api_token_hash(secret)).first()
    if token is None:
        raise NotAuthenticated("invalid token: no such API token; create one at /account/tokens/")
    if token.revoked_at is not None:
        raise NotAuthenticated(f"API token {token.prefix}… was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC")
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        raise NotAuthenticated(f"API token {token.prefix}… expired on {token.expires_at:%Y-%m-%d %H:%M} UTC")
    if not token.user.is_active:
        raise NotAuthenticated(f"API token {token.prefix}… belongs to a deactivated user")
    if token.last_used_at is None or now - token.last_used_at >= API_TOKEN_TOUCH_EVERY:
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        token.last_used_at = now
    return token
