"""Shared by the audit tests: fill a tenant's chain, export it through the API, run the verifier."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from compliance.audit import audit_record
from compliance.audit_signing import checkpoint_create
from tests.conftest import World, client_for


def fill_chain(world: World, count: int = 6, checkpoint_every: int = 3) -> None:
    """``count`` entries with a signed checkpoint after every ``checkpoint_every`` of them."""
    for n in range(1, count + 1):
        audit_record(tenant_id=world.tenant.id, action="test.change", actor=next(iter(world.users.values())),
                     target=world.site, before={"n": n - 1, "name": "Café ü"}, after={"n": n}, ip="192.0.2.7", note=n)
        if n % checkpoint_every == 0:
            checkpoint_create(tenant_id=world.tenant.id)


def export(world: World, user: str = "carl", fmt: str = "jsonl", **params: str) -> bytes:
    response = client_for(world.users[user]).get("/api/v1/audit/export/", {"format": fmt, **params})
    assert response.status_code == 200, (response.status_code, getattr(response, "content", b"")[:300])
    return b"".join(response.streaming_content)


def public_key_file(tmp_path: Path, api) -> Path:  # noqa: ANN001
    response = api.get("/api/v1/audit/public-keys/")
    assert response.status_code == 200
    path = tmp_path / "audit-keys.json"
    path.write_text(json.dumps(response.json()))
    return path


def run_verify(export_path: Path, key: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compliance.verify", str(export_path), "--public-key", str(key)],
                          cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR)})
