"""Retention: the tenant's periods capped by its sites' jurisdictions, legal holds, the purge job.

* :func:`retention_effective` - per data kind: the tenant's own period, the strictest ceiling of
  the jurisdictions of its sites (with the clause that sets it) and the period that applies
  (the smaller: a tenant may be stricter than the law, never looser).
* :func:`retention_update` - the tenant's own periods (compliance officer, admin, owner).
* :func:`legal_hold_create` / :func:`legal_hold_release` - a hold keeps a camera's (or a whole
  site's) data in a time window from the purge and from erasure.
* :func:`retention_purge` - deletes the tenant's alerts older than the effective alert-metadata
  period, in batches of ``batch_size`` (one transaction each), skipping held alerts, and writes
  one audit entry per run with the counts. :func:`retention_purge_all` runs it for every tenant
  (the Celery beat job ``compliance.tasks.retention_purge_all_task``).

The purge also deletes the scene reference images (the one image that may leave a site) older
than the effective scene-image period. Biometric templates are never stored in the cloud.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance import rules
from compliance.audit import audit_record
from compliance.jurisdictions import normalise
from compliance.models import LegalHold, RetentionSettings
from tenants.errors import Conflict, InvalidInput, NotFound
from tenants.models import Membership, Site, Tenant
from tenants.roles import Action, require
from tenants.scope import tenant_scope

#: data kind -> RetentionSettings field
KINDS = {"alert_metadata": "alert_metadata_days", "scene_images": "scene_image_days",
         "biometric_templates": "biometric_template_days"}


@dataclass(frozen=True)
class Ceiling:
    days: int
    jurisdiction: str
    rule_set: str
    clause: str
    citation: str
    source_url: str


def site_ceilings(site: Site) -> dict[str, Ceiling]:
    """Retention ceilings (days) per data kind for one site: the strictest of its rule sets
    (``compliance.rules``, the reviewed YAML files with their citations)."""
    found = rules.retention_ceilings(jurisdiction=site.jurisdiction, locality=getattr(site, "locality", ""))
    return {kind: Ceiling(days=int(entry["max_days"]), jurisdiction=normalise(site.jurisdiction),
                          rule_set=str(entry.get("rule_set", "")), clause=str(entry.get("clause", "")),
                          citation=str(entry.get("citation", "")), source_url=str(entry.get("source_url", "")))
            for kind, entry in found.items() if kind in KINDS}


def _settings(tenant_id: int) -> RetentionSettings:
    found = RetentionSettings.objects.filter(tenant_id=tenant_id).first()
    return found if found is not None else RetentionSettings(tenant_id=tenant_id)


def retention_effective(*, tenant_id: int) -> dict[str, dict[str, Any]]:
    """Per data kind: ``tenant_days``, ``ceiling`` (None or days + the deciding clause), ``effective_days``."""
    with tenant_scope(tenant_id):
        own = _settings(tenant_id)
        strictest: dict[str, Ceiling] = {}
        for site in Site.objects.order_by("pk"):
            for kind, ceiling in site_ceilings(site).items():
                if kind not in strictest or ceiling.days < strictest[kind].days:
                    strictest[kind] = ceiling
    out = {}
    for kind, field in KINDS.items():
        days = getattr(own, field)
        ceiling = strictest.get(kind)
        effective = min(days, ceiling.days) if ceiling else days
        out[kind] = {
            "tenant_days": days, "effective_days": effective, "capped": ceiling is not None and ceiling.days < days,
            "ceiling": None if ceiling is None else dataclasses.asdict(ceiling),
        }
    return out


def retention_update(*, member: Membership, **days: int) -> dict[str, dict[str, Any]]:
    require(member, Action.MANAGE_COMPLIANCE)
    unknown = sorted(set(days) - set(KINDS.values()))
    if unknown:
        raise InvalidInput.field(unknown[0], f"unknown retention field; use one of {sorted(KINDS.values())}")
    for field, value in days.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 36500:
            raise InvalidInput.field(field, f"must be a whole number of days from 0 to 36500, got {value!r}")
    with transaction.atomic():
        own = RetentionSettings.objects.select_for_update().filter(tenant_id=member.tenant_id).first()
        if own is None:
            own = RetentionSettings(tenant_id=member.tenant_id)
        before = {f: getattr(own, f) for f in KINDS.values()}
        for field, value in days.items():
            setattr(own, field, value)
        own.updated_by_id = member.user_id
        own.save()
        audit_record(tenant_id=member.tenant_id, action="retention.update", actor=member, target=own,
                     before=before, after={f: getattr(own, f) for f in KINDS.values()})
    return retention_effective(tenant_id=member.tenant_id)


# --- legal holds ---------------------------------------------------------------------------------
def legal_hold_list(*, member: Membership) -> Any:
    require(member, Action.MANAGE_COMPLIANCE)
    return LegalHold.objects.select_related("camera", "site").order_by("-created_at", "-id")


def legal_hold_create(*, member: Membership, reason: str, starts_at: datetime, ends_at: datetime | None = None,
                      camera: Any = None, site: Site | None = None) -> LegalHold:
    require(member, Action.MANAGE_COMPLIANCE)
    if (camera is None) == (site is None):
        raise InvalidInput({"camera": ["give either a camera or a site, not both and not neither"]})
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput.field("ends_at", "must be after starts_at")
    if not reason.strip():
        raise InvalidInput.field("reason", "say why the data is held (case, request, authority)")
    with transaction.atomic():
        hold = LegalHold.objects.create(tenant_id=member.tenant_id, camera=camera, site=site, reason=reason.strip(),
                                        starts_at=starts_at, ends_at=ends_at, created_by_id=member.user_id)
        audit_record(tenant_id=member.tenant_id, action="legal_hold.create", actor=member, target=hold,
                     after=_hold_summary(hold))
    return hold


def legal_hold_release(*, member: Membership, hold_id: int) -> LegalHold:
    require(member, Action.MANAGE_COMPLIANCE)
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None:
            raise NotFound("legal hold not found")
        if hold.released_at is not None:
            raise Conflict(f"legal hold #{hold.pk} was already released at {hold.released_at.isoformat()}")
        hold.released_at = timezone.now()
        hold.released_by_id = member.user_id
        hold.save(update_fields=["released_at", "released_by"])
        audit_record(tenant_id=member.tenant_id, action="legal_hold.release", actor=member, target=hold,
                     after=_hold_summary(hold))
    return hold


def _hold_summary(hold: LegalHold) -> dict[str, Any]:
    return {"camera_id": hold.camera_id, "site_id": hold.site_id, "reason": hold.reason,
            "starts_at": hold.starts_at, "ends_at": hold.ends_at, "released_at": hold.released_at}


def hold_label(hold: LegalHold) -> str:
    what = f"camera {hold.camera.name!r}" if hold.camera_id else f"site {hold.site.name!r}"
    until = hold.ends_at.isoformat() if hold.ends_at else "open end"
    return f"legal hold #{hold.pk} on {what} ({hold.starts_at.isoformat()} to {until}): {hold.reason}"


def active_holds() -> Any:
    return LegalHold.objects.filter(released_at__isnull=True).select_related("camera", "site")


def held_alerts_q(holds: list[LegalHold]) -> Q:
    """Alerts (by ``camera``/``started_at``) that any of ``holds`` covers."""
    q = Q(pk__in=[])
    for hold in holds:
        where = Q(camera_id=hold.camera_id) if hold.camera_id else Q(camera__site_id=hold.site_id)
        when = Q(started_at__gte=hold.starts_at)
        if hold.ends_at is not None:
            when &= Q(started_at__lte=hold.ends_at)
        q |= where & when
    return q


# --- the purge -----------------------------------------------------------------------------------
def retention_purge(*, tenant_id: int, now: datetime | None = None, batch_size: int = 500) -> dict[str, Any]:
    """Delete the tenant's expired alerts in batches, keep held ones; one audit entry with the counts."""
    from detection.models import Alert  # compliance rules are read by all apps: import the data lazily

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    now = now or timezone.now()
    effective = retention_effective(tenant_id=tenant_id)
    days = effective["alert_metadata"]["effective_days"]
    cutoff = now - timedelta(days=days)
    with tenant_scope(tenant_id):
        holds = list(active_holds())
        held_q = held_alerts_q(holds)
        expired = Alert.objects.filter(started_at__lt=cutoff)
        held_back = expired.filter(held_q).count() if holds else 0
        deleted = batches = 0
        while True:
            with transaction.atomic():
                ids = list(expired.exclude(held_q).order_by("pk").values_list("pk", flat=True)[:batch_size])
                if not ids:
                    break
                Alert.objects.filter(pk__in=ids).delete()
            deleted += len(ids)
            batches += 1
        scene = _purge_scene_images(now=now, days=effective["scene_images"]["effective_days"], holds=holds)
        counts = {"alerts_deleted": deleted, "alerts_held_back": held_back, "batches": batches,
                  "batch_size": batch_size, "alert_metadata_days": days, "cutoff": cutoff.isoformat(),
                  **scene, "legal_holds": [h.pk for h in holds]}
        audit_record(tenant_id=tenant_id, action="retention.purge", **counts)
    return counts


def _purge_scene_images(*, now: datetime, days: int, holds: list[LegalHold]) -> dict[str, Any]:
    """Delete the scene reference images (cameras.scene_images) stored longer than ``days``,
    except those of a camera a legal hold covers (the camera, or its site, held at that time)."""
    from cameras.models import Camera

    deleted = held = 0
    for camera in Camera.objects.filter(scene_image_at__lt=now - timedelta(days=days)).exclude(scene_image=""):
        if any((h.camera_id == camera.pk or h.site_id == camera.site_id) and h.starts_at <= camera.scene_image_at
               and (h.ends_at is None or camera.scene_image_at <= h.ends_at) for h in holds):
            held += 1
            continue
        with transaction.atomic():
            camera.scene_image.delete(save=False)
            camera.scene_image_at = None
            camera.save(update_fields=["scene_image", "scene_image_at"])
        deleted += 1
    return {"scene_images_deleted": deleted, "scene_images_held_back": held, "scene_image_days": days}


def retention_purge_all(*, now: datetime | None = None, batch_size: int = 500) -> dict[int, dict[str, Any]]:
    """The platform job: purge every tenant (each in its own scope)."""
    return {tid: retention_purge(tenant_id=tid, now=now, batch_size=batch_size)
            for tid in Tenant.objects.order_by("pk").values_list("pk", flat=True)}
