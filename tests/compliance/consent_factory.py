"""A consent record straight in the database, for tests that need one on file (BOLA rows)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from compliance.models import Consent
from tenants.scope import tenant_scope


def make_consent(world: Any, *, site: Any = None, capability: str = "biometric_identification",
                 kind: str = "written_release", **fields: Any) -> Consent:
    with tenant_scope(world.tenant.id):
        return Consent.objects.create(
            site=site or world.site, purpose="access control at the staff entrance", capability=capability,
            kind=kind, document_sha256="ab" * 32, signer="Pat Example",
            signed_at=timezone.now() - timedelta(days=1), **fields)
