"""Writes for tenants, memberships and invitations. Keyword-only, one transaction each."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm
from rest_framework.exceptions import NotFound, ValidationError

from tenants.models import Invitation, Membership, Role, Site, Tenant
from tenants.scope import tenant_scope
from tenants.selectors import CAMERA_VIEW_PERM, SITE_VIEW_PERM

INVITATION_TTL = timedelta(days=7)


def tenant_create(*, name: str, slug: str, data_region: str, owner: AbstractBaseUser) -> Tenant:
    with transaction.atomic():
        tenant = Tenant.objects.create(name=name, slug=slug, data_region=data_region)
        with tenant_scope(tenant.id):
            Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    return tenant


def membership_update(*, membership: Membership, role: str | None = None, all_sites: bool | None = None,
                      site_ids: list[int] | None = None, camera_ids: list[int] | None = None) -> Membership:
    """Change a member's role and restriction. Site and camera grants are guardian object perms."""
    with transaction.atomic():
        if role is not None and role != membership.role:
            if membership.role == Role.OWNER and role != Role.OWNER:
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
    return membership


def membership_delete(*, membership: Membership) -> None:
    with transaction.atomic():
        if membership.role == Role.OWNER:
            _ensure_another_owner(membership)
        from cameras.models import Camera

        _grant(membership, Site, SITE_VIEW_PERM, [], field="site_ids")
        _grant(membership, Camera, CAMERA_VIEW_PERM, [], field="camera_ids")
        membership.delete()


def _ensure_another_owner(membership: Membership) -> None:
    others = Membership.objects.filter(role=Role.OWNER).exclude(id=membership.id)
    if not others.exists():
        raise ValidationError({"role": ["a tenant must keep at least one owner"]})


def _grant(membership: Membership, model: type, perm: str, ids: list[int], *, field: str) -> None:
    """Make the member's ``perm`` grants on ``model`` exactly ``ids`` (tenant objects only).

    Uses guardian's bulk forms: a fixed number of queries whatever the size of the tenant.
    """
    wanted = set(ids)
    granted = list(model.objects.filter(id__in=wanted))
    if unknown := sorted(wanted - {obj.id for obj in granted}):
        raise ValidationError({field: [f"unknown id(s) {unknown}"]})
    remove_perm(perm, membership.user, model.objects.exclude(id__in=wanted))
    if granted:
        assign_perm(perm, membership.user, granted)


def invitation_create(*, tenant_id: int, email: str, role: str, invited_by: AbstractBaseUser) -> Invitation:
    from tenants.tasks import invitation_send

    with transaction.atomic():
        invitation = Invitation.objects.create(
            tenant_id=tenant_id,
            email=email.lower(),
            role=role,
            token=secrets.token_urlsafe(32),
            invited_by=invited_by,
            expires_at=timezone.now() + INVITATION_TTL,
        )
        transaction.on_commit(
            lambda: invitation_send.delay(tenant_id=tenant_id, invitation_id=invitation.id)
        )
    return invitation


def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """Accept an invitation by its secret token (platform path: the token is the authority)."""
    with transaction.atomic():
        invitation = (
            Invitation.unscoped_objects.select_for_update()
            .filter(token=token, accepted_at=None, expires_at__gt=timezone.now())
            .first()
        )
        if invitation is None:
            raise NotFound("invitation not found, already used or expired")
        with tenant_scope(invitation.tenant_id):
            membership, created = Membership.objects.get_or_create(
                user=user, defaults={"role": invitation.role, "tenant_id": invitation.tenant_id}
            )
            if not created:
                raise ValidationError({"token": ["you are already a member of this tenant"]})
            invitation.accepted_at = timezone.now()
            invitation.accepted_by = user
            invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership
