"""Reads for tenants, memberships and site visibility."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from tenants.models import Membership, Site, Tenant

SITE_VIEW_PERM = "tenants.view_site"


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


def visible_site_ids(*, membership: Membership) -> list[int] | None:
    """Site ids the member may see; ``None`` means every site of the tenant."""
    if membership.all_sites:
        return None
    granted = get_objects_for_user(
        membership.user, SITE_VIEW_PERM, klass=Site.objects.all(), accept_global_perms=False
    )
    return list(granted.values_list("id", flat=True))


def site_list(*, membership: Membership) -> QuerySet[Site]:
    qs = Site.objects.all()
    site_ids = visible_site_ids(membership=membership)
    return qs if site_ids is None else qs.filter(id__in=site_ids)
