"""A small real model bundle for tests (a ``flow`` model fitted on 30 simulator frames, < 1 KiB),
and a filesystem ``bundles`` storage under a test's own directory."""

from __future__ import annotations

import io
import json
import tarfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from edge_agent.models.base import Frame
from edge_agent.models.bundle import write_bundle
from edge_agent.models.flow import FlowModel
from edge_agent.pipeline.pipeline import Member
from edge_agent.sim import render


@lru_cache(maxsize=4)
def bundle_bytes(camera_id: str = "cam-1") -> bytes:
    """The ``.tar.gz`` bytes ``vad-edge train`` would write for one camera."""
    import tempfile

    frames = [Frame(f.index, f.ts, f.image) for f in render(30, seed=5, normal_only=True)]
    model = FlowModel()
    model.fit([frames])
    with tempfile.TemporaryDirectory() as tmp:
        out = write_bundle(Path(tmp) / "bundle.tar.gz", camera_id=camera_id, scene="outdoor", resize=(360, 240),
                           color=False, members=[Member("flow", model, None, 1.0)])
        return out.read_bytes()


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A ``.tar.gz`` holding ``files`` (name -> content), for malformed bundles."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def bundle_files(data: bytes | None = None) -> dict[str, bytes]:
    """The files of a bundle (default: :func:`bundle_bytes`), to take apart and re-pack."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data or bundle_bytes()), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                fh = tar.extractfile(member)
                assert fh is not None
                out[member.name] = fh.read()
    return out


def manifest_of(data: bytes | None = None) -> dict[str, Any]:
    return json.loads(bundle_files(data)["manifest.json"])


def use_tmp_bundle_storage(settings: Any, root: Path) -> Path:  # noqa: ANN401
    """Point ``STORAGES["bundles"]`` at ``root`` for one test; returns it."""
    settings.STORAGES = {**settings.STORAGES, "bundles": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}}
    return root


def create_artifact(world: Any, *, name: str = "flow", version: str = "1", cameras: tuple[int, ...] = ()) -> Any:  # noqa: ANN401
    """A registered bundle of ``world``'s tenant, uploaded by its admin through the service."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from detection.artifacts import artifact_create
    from tenants.models import Membership, Role
    from tenants.scope import tenant_scope

    with tenant_scope(world.tenant.id):
        admin = Membership.objects.filter(role__in=[Role.ADMIN, Role.OWNER]).order_by("id").first()
        return artifact_create(member=admin, name=name, version=version, camera_ids=cameras,
                               file=SimpleUploadedFile("bundle.tar.gz", bundle_bytes()))
