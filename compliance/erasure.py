"""Erasure requests (GDPR Art. 17, BIPA destruction) by camera and time range.

:func:`erasure_execute` deletes the camera's alerts that started in ``[starts_at, ends_at]`` in
one transaction, unless a legal hold covers any part of that window (409 naming the hold), and
records the proof of deletion: the count and ``deleted_ids_sha256`` = SHA-256 of the canonical
JSON list of the deleted alert ids in ascending order (``[3,7,12]``), on the request and in an
``erasure.execute`` audit entry written in the same transaction. Anyone holding the ids (e.g. an
earlier export) can recompute the hash; the ids themselves are not kept.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cameras.selectors import camera_list
from compliance.audit import audit_record
from compliance.models import ErasureBasis, ErasureRequest
from compliance.retention import active_holds, hold_label
from tenants.errors import Conflict, InvalidInput, NotFound
from tenants.models import Membership
from tenants.roles import Action, require


def deleted_ids_digest(ids: list[int]) -> str:
    return hashlib.sha256(json.dumps(sorted(ids), separators=(",", ":")).encode()).hexdigest()


def erasure_list(*, member: Membership) -> Any:
    require(member, Action.MANAGE_COMPLIANCE)
    return ErasureRequest.objects.order_by("-created_at", "-id")


def erasure_execute(*, member: Membership, camera_id: int, starts_at: datetime, ends_at: datetime,
                    basis: str, reason: str = "") -> ErasureRequest:
    from detection.models import Alert

    require(member, Action.MANAGE_COMPLIANCE)
    camera = camera_list(membership=member).filter(pk=camera_id).first()
    if camera is None:
        raise NotFound("camera not found")
    if basis not in ErasureBasis.values:
        raise InvalidInput.field("basis", f"unknown basis {basis!r}; use one of {ErasureBasis.values}")
    if ends_at <= starts_at:
        raise InvalidInput.field("ends_at", "must be after starts_at")
    if ends_at > timezone.now() + timedelta(days=1):
        raise InvalidInput.field("ends_at", "lies in the future; erase data that exists")
    overlapping = active_holds().filter(
        Q(camera_id=camera.pk) | Q(site_id=camera.site_id), starts_at__lte=ends_at,
    ).filter(Q(ends_at__isnull=True) | Q(ends_at__gte=starts_at)).order_by("pk").first()
    if overlapping is not None:
        raise Conflict(f"refused: {hold_label(overlapping)}; release the hold or narrow the time range")
    with transaction.atomic():
        alerts = Alert.objects.filter(camera_id=camera.pk, started_at__gte=starts_at, started_at__lte=ends_at)
        ids = sorted(alerts.values_list("pk", flat=True))
        Alert.objects.filter(pk__in=ids).delete()
        request = ErasureRequest.objects.create(
            tenant_id=member.tenant_id, camera=camera, camera_name=camera.name, starts_at=starts_at, ends_at=ends_at,
            basis=basis, reason=reason, requested_by_id=member.user_id, executed_at=timezone.now(),
            deleted_count=len(ids), deleted_ids_sha256=deleted_ids_digest(ids),
        )
        audit_record(tenant_id=member.tenant_id, action="erasure.execute", actor=member, target=request,
                     camera_id=camera.pk, camera_name=camera.name, starts_at=starts_at, ends_at=ends_at,
                     basis=basis, reason=reason, alerts_deleted=len(ids),
                     deleted_ids_sha256=request.deleted_ids_sha256, id_encoding="sha256(json sorted ids)")
    return request
