"""Reads for tenants, memberships and site visibility."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max, Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from tenants.models import ApiToken, Membership, Site, Tenant

SITE_VIEW_PERM = "tenants.view_site"
CAMERA_VIEW_PERM = "cameras.view_camera"


def membership_resolve(*, user: AbstractBaseUser, tenant_slug: str | None = None,
                       tenant_id: int | None = None) -> Membership | None:
    """The user's membership in the requested tenant, else in their first tenant.

    Runs before any scope exists, so it is one of the few places allowed to use
    ``unscoped_objects``; it only ever returns the user's own memberships.
    """
    if not user.is_authenticated:
        return None
    mine = Membership.unscoped_objects.select_related("tenant", "user").filter(user=user)
    if tenant_slug:
        return mine.filter(tenant__slug=tenant_slug).first()
    if tenant_id is not None:
        chosen = mine.filter(tenant_id=tenant_id).first()
        if chosen is not None:
            return chosen
    return mine.order_by("id").first()


def memberships_of_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    return Membership.unscoped_objects.select_related("tenant").filter(user=user).order_by("tenant__name")


def tenants_of_user(*, user: AbstractBaseUser) -> QuerySet[Tenant]:
    return Tenant.objects.filter(id__in=Membership.unscoped_objects.filter(user=user).values("tenant_id"))


@dataclass(frozen=True)
class Visibility:
    """What a member may see inside the tenant: every site, or granted sites plus granted cameras."""

    site_ids: frozenset[int] | None  # None: every site of the tenant
    camera_ids: frozenset[int] = frozenset()

    def limit(self, qs: QuerySet, *, site_field: str, camera_field: str | None = None) -> QuerySet:
        if self.site_ids is None:
            return qs
        allowed = Q(**{f"{site_field}__in": self.site_ids})
        if camera_field is not None and self.camera_ids:
            allowed |= Q(**{f"{camera_field}__in": self.camera_ids})
        return qs.filter(allowed)

    def sees(self, *, site_id: int | None, camera_id: int | None = None) -> bool:
        return self.site_ids is None or site_id in self.site_ids or camera_id in self.camera_ids


def visibility(*, membership: Membership) -> Visibility:
    """Site and camera grants are django-guardian object permissions (view_site, view_camera).

    Cached on the membership object, so one request asks guardian once.
    """
    cached = getattr(membership, "_visibility", None)
    if cached is not None:
        return cached
    if membership.all_sites:
        result = Visibility(site_ids=None)
    else:
        from cameras.models import Camera

        def granted(perm: str, qs: QuerySet) -> frozenset[int]:
            objs = get_objects_for_user(membership.user, perm, klass=qs, accept_global_perms=False)
            return frozenset(objs.values_list("id", flat=True))

        result = Visibility(site_ids=granted(SITE_VIEW_PERM, Site.objects.all()),
                            camera_ids=granted(CAMERA_VIEW_PERM, Camera.objects.all()))
    membership._visibility = result  # type: ignore[attr-defined]
    return result


def site_list(*, membership: Membership) -> QuerySet[Site]:
    return visibility(membership=membership).limit(Site.objects.all(), site_field="id")


def membership_current(*, membership_id: int, user_id: int) -> Membership | None:
    """The membership as stored now (role, restriction), or None once removed or the user is
    deactivated. Long-lived connections call this per message instead of trusting what they read
    when they opened."""
    return (
        Membership.unscoped_objects.select_related("tenant", "user")
        .filter(id=membership_id, user_id=user_id, user__is_active=True)
        .first()
    )


def account_exists_for_email(*, email: str) -> bool:
    """Whether someone already has an account with this email (the invitation page then asks
    them to sign in instead of creating a second account)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(email__iexact=email).exists()


def api_token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's own tokens that are not revoked (expired ones included), newest first."""
    return ApiToken.objects.filter(user=user, revoked_at=None).order_by("-created_at", "-id")


def login_lockout_ends_at(*, username: str, ip_address: str | None) -> datetime | None:
    """When django-axes lets this (username, IP) pair sign in again: the last counted failure plus
    AXES_COOLOFF_TIME (attempts made while locked are not counted). None if nothing is recorded."""
    last = AccessAttempt.objects.filter(username=username, ip_address=ip_address).aggregate(t=Max("attempt_time"))["t"]
    return last + settings.AXES_COOLOFF_TIME if last is not None else None


def member_list(*, membership: Membership) -> list[Membership]:
    """The tenant's members (owners and admins), each with ``site_grants``: the ids of the sites
    granted to a member limited to some sites (empty for members who see every site)."""
    from tenants.roles import Action, require

    require(membership, Action.MANAGE_MEMBERS)
    members = list(Membership.objects.select_related("user").order_by("user__username", "id"))
    for member in members:
        member.site_grants = visibility(membership=member).site_ids or frozenset()  # type: ignore[attr-defined]
    return members


def invitation_list(*, membership: Membership) -> QuerySet:
    """Open invitations of the tenant (owners and admins), newest first."""
    from tenants.models import Invitation
    from tenants.roles import Action, require

    require(membership, Action.MANAGE_MEMBERS)
    return Invitation.objects.filter(accepted_at=None).order_by("-created_at", "-id")
