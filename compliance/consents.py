"""Consent records and the tenant's own privacy settings: reads and writes (services).

Every write takes the acting ``member`` (``Action.MANAGE_COMPLIANCE``: compliance officers,
admins, owners) and, in the same transaction, tells the edge devices concerned to fetch a new
signed config (``cameras.live.edge_config_changed``, sent after the commit): a withdrawal or a new
prohibition is in force on the device as soon as it gets the push, and the API refuses enabling
the capability from the commit on. When it takes a biometric capability away, the devices are also
told to destroy their biometric templates (a ``destroy_biometric_templates`` command each, recorded
and acknowledged: ``cameras.services.devices_destroy_biometric_templates``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cameras.live import edge_config_changed
from cameras.models import Camera, EdgeDevice
from cameras.services import devices_destroy_biometric_templates
from compliance.models import Consent, ConsentKind, TenantPrivacySettings
from compliance.policy import ALL_CAPABILITIES, SENSITIVE_CAPABILITIES
from tenants.errors import Conflict, InvalidInput, NotFound
from tenants.models import Membership, Site
from tenants.roles import Action, require
from tenants.scope import tenant_scope
from tenants.selectors import visibility

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BIOMETRIC = frozenset(SENSITIVE_CAPABILITIES)  # what a template could exist for


def consent_list(*, member: Membership) -> QuerySet[Consent]:
    """The consents of the sites the member sees, newest first."""
    return visibility(membership=member).limit(Consent.objects.select_related("site"), site_field="site_id")


def _devices_of_site(site_id: int) -> list[int]:
    ids = set(EdgeDevice.objects.filter(site_id=site_id).values_list("id", flat=True))
    ids |= {i for i in Camera.objects.filter(site_id=site_id).values_list("device_id", flat=True) if i}
    return sorted(ids)


def consent_create(*, member: Membership, site: Site, purpose: str, capability: str, kind: str,
                   document_sha256: str, signer: str, signed_at: datetime,
                   expires_at: datetime | None = None) -> Consent:
    require(member, Action.MANAGE_COMPLIANCE)
    if not visibility(membership=member).sees(site_id=site.id):
        raise InvalidInput.field("site", f"site {site.id} not found")
    if capability not in SENSITIVE_CAPABILITIES:
        raise InvalidInput.field("capability", f"consent is recorded for a sensitive capability; "
                                               f"got {capability!r}, valid: {sorted(SENSITIVE_CAPABILITIES)}")
    if kind not in ConsentKind.values:
        raise InvalidInput.field("kind", f"unknown kind {kind!r}; valid: {sorted(ConsentKind.values)}")
    digest = (document_sha256 or "").strip().lower()
    if not _SHA256.match(digest):
        raise InvalidInput.field("document_sha256", "document_sha256 must be the 64 hex digits of the "
                                                    "signed document's SHA-256")
    if not (purpose or "").strip():
        raise InvalidInput.field("purpose", "purpose is required (what the capability is used for)")
    if not (signer or "").strip():
        raise InvalidInput.field("signer", "signer is required (who signed the document)")
    if signed_at > timezone.now():
        raise InvalidInput.field("signed_at", "signed_at is in the future")
    if expires_at is not None and expires_at <= signed_at:
        raise InvalidInput.field("expires_at", "expires_at must be after signed_at")
    with transaction.atomic():
        consent = Consent.objects.create(
            tenant_id=member.tenant_id, site=site, purpose=purpose.strip(), capability=capability, kind=kind,
            document_sha256=digest, signer=signer.strip(), signed_at=signed_at, expires_at=expires_at,
            created_by_id=member.user_id)
        edge_config_changed(device_ids=_devices_of_site(site.id))
    return consent


def consent_withdraw(*, member: Membership, consent_id: int, reason: str = "") -> Consent:
    """Withdraw a consent: the capability it allowed is refused from this commit on, and pushed."""
    require(member, Action.MANAGE_COMPLIANCE)
    with transaction.atomic():
        consent = consent_list(member=member).select_for_update(of=("self",)).filter(id=consent_id).first()
        if consent is None:
            raise NotFound(f"consent {consent_id} not found")
        if consent.withdrawn_at is not None:
            raise Conflict(f"consent {consent_id} was already withdrawn at {consent.withdrawn_at.isoformat()}")
        consent.withdrawn_at = timezone.now()
        consent.withdrawn_by_id = member.user_id
        consent.withdrawal_reason = (reason or "").strip()
        consent.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawal_reason"])
        devices = _devices_of_site(consent.site_id)
        edge_config_changed(device_ids=devices)
        if consent.capability in _BIOMETRIC:
            devices_destroy_biometric_templates(device_ids=devices, actor=member,
                                                reason=f"consent {consent.id} for {consent.capability} withdrawn")
    return consent


def privacy_settings_get() -> dict[str, Any]:
    row = TenantPrivacySettings.objects.first()
    return {"forbidden_capabilities": sorted(row.forbidden_capabilities) if row else [],
            "updated_at": row.updated_at if row else None}


def privacy_settings_update(*, member: Membership, forbidden_capabilities: list[str]) -> dict[str, Any]:
    """Replace the tenant's own prohibitions. They only ever add to the rules (never allow more)."""
    require(member, Action.MANAGE_COMPLIANCE)
    if not isinstance(forbidden_capabilities, list) or not all(isinstance(c, str) for c in forbidden_capabilities):
        raise InvalidInput.field("forbidden_capabilities", "forbidden_capabilities must be a list of capability names")
    if unknown := sorted(set(forbidden_capabilities) - set(ALL_CAPABILITIES)):
        raise InvalidInput.field("forbidden_capabilities",
                                 f"unknown capabilities {unknown}; valid: {sorted(ALL_CAPABILITIES)}")
    with transaction.atomic():
        row, _ = TenantPrivacySettings.objects.select_for_update().get_or_create(
            tenant_id=member.tenant_id, defaults={"updated_by_id": member.user_id})
        newly = (set(forbidden_capabilities) - set(row.forbidden_capabilities or [])) & _BIOMETRIC
        row.forbidden_capabilities = sorted(set(forbidden_capabilities))
        row.updated_by_id = member.user_id
        row.save()
        devices = list(EdgeDevice.objects.values_list("id", flat=True))
        edge_config_changed(device_ids=devices)
        if newly:
            devices_destroy_biometric_templates(device_ids=devices, actor=member,
                                                reason=f"tenant now forbids {sorted(newly)}")
    return privacy_settings_get()


def platform_consent_expiry_push(*, window_s: float) -> int:
    """Platform job (beat): a consent that expired in the last ``window_s`` seconds stops allowing
    its capability by itself (the policy reads the clock), but the devices still hold the config
    signed before; this pushes the devices of those sites. Returns how many devices were told.
    Overlapping windows push twice at most, which changes nothing (same payload, same version)."""
    now = timezone.now()
    scopes = set(Consent.unscoped_objects.filter(withdrawn_at=None, expires_at__lte=now,
                                                 expires_at__gt=now - timedelta(seconds=window_s))
                 .values_list("tenant_id", "site_id"))
    told = 0
    for tenant_id, site_id in sorted(scopes):
        with tenant_scope(tenant_id), transaction.atomic():
            device_ids = _devices_of_site(site_id)
            edge_config_changed(device_ids=device_ids)
            told += len(device_ids)
    return told
