"""The model bundle registry: upload, list, assign to cameras, delete; what a device may download.

A bundle is the ``.tar.gz`` ``vad-edge train`` writes (``edge_agent.models.bundle``): a
``manifest.json`` listing each model with its capabilities and every file's sha256 and size. An
upload is checked before anything is stored: a readable tar with only plain files and
directories, no path out of the bundle, a valid manifest with at least one model, every listed
file present with its size and sha256, no unlisted model file; a failure is ``InvalidInput``
naming the problem (400), a file over ``MODEL_BUNDLE_MAX_BYTES`` is :class:`BundleTooLarge` (413).

The file goes to ``storages["bundles"]`` (``settings.STORAGES``: the filesystem under
``MEDIA_ROOT/bundles`` by default, S3 when ``S3_BUCKET`` is set) as ``<tenant id>/<random>.tar.gz``;
the row keeps its name, sha256 and size. A camera runs at most one bundle (``CameraBundle``);
each change of an assignment tells the affected devices that their signed config changed, and the
config lists, per bundle, the id, name, version, sha256, size, capabilities, download URL and
cameras (:func:`bundle_refs_for_device`), so the sha256 the agent checks is covered by the
config's signature.

Writes need ``Action.MANAGE_SITES`` (owner, admin: bundles are part of the devices' config);
every member may read. Another tenant's artifact is absent (404).
"""

from __future__ import annotations

import hashlib
import json
import logging
import lzma
import secrets
import tarfile
import zlib
from collections.abc import Iterable
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from pydantic import ValidationError

from cameras.live import edge_config_changed
from cameras.models import Camera, EdgeDevice
from cameras.selectors import camera_list
from compliance.audit import audit_record
from detection.models import CameraBundle, ModelArtifact
from tenants.errors import Conflict, InvalidInput, NotFound, VadError
from tenants.models import Membership
from tenants.roles import Action, require

log = logging.getLogger(__name__)

STORAGE_ALIAS = "bundles"
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1024 * 1024
UNPACKED_FACTOR = 4  # the files inside may add up to this many times the upload cap
CHUNK = 1 << 20
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


class BundleTooLarge(VadError):
    http_status = 413
    ws_code = 4413


def bundle_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def max_bundle_bytes() -> int:
    return int(settings.MODEL_BUNDLE_MAX_BYTES)


# --- reads --------------------------------------------------------------------------------------
def artifact_list(*, membership: Membership) -> QuerySet[ModelArtifact]:
    """The tenant's artifacts, each with ``visible_assignments``: its cameras the member may see."""
    cameras = camera_list(membership=membership).values("id")
    return ModelArtifact.objects.select_related("created_by").prefetch_related(
        Prefetch("assignments", queryset=CameraBundle.objects.filter(camera_id__in=cameras).order_by("camera_id"),
                 to_attr="visible_assignments"))


def artifact_for_device(*, device: EdgeDevice, artifact_id: int) -> ModelArtifact:
    """An artifact one of ``device``'s cameras runs (call inside the device's tenant scope);
    any other id, another tenant's included, is ``NotFound``."""
    artifact = (ModelArtifact.objects.filter(id=artifact_id, assignments__camera__device_id=device.id)
                .distinct().first())
    if artifact is None:
        raise NotFound(f"model bundle {artifact_id} not found for device {device.id}")
    return artifact


def artifact_open(*, artifact: ModelArtifact) -> IO[bytes]:
    """The stored file, open for reading (``FileNotFoundError`` if storage lost it)."""
    return bundle_storage().open(artifact.storage_name, "rb")


def bundle_refs_for_device(*, device: EdgeDevice) -> list[dict[str, Any]]:
    """What the signed device config lists under ``model_bundles`` (inside the device's scope)."""
    refs: dict[int, dict[str, Any]] = {}
    rows = (CameraBundle.objects.filter(camera__device_id=device.id).select_related("artifact")
            .order_by("artifact_id", "camera_id"))
    for row in rows:
        a = row.artifact
        ref = refs.setdefault(a.id, {"id": a.id, "name": a.name, "version": a.version, "sha256": a.sha256,
                                     "size": a.size, "capabilities": list(a.capabilities),
                                     "url": f"/edge/bundles/{a.id}/", "cameras": []})
        ref["cameras"].append(str(row.camera_id))
    return list(refs.values())


# --- bundle checks ----------------------------------------------------------------------------
def _bad(message: str) -> InvalidInput:
    return InvalidInput.field("file", message)


def _member_name(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "\\" in name:
        raise _bad(f"the bundle holds a path outside the bundle: {member.name!r}")
    if not (member.isfile() or member.isdir()):
        raise _bad(f"the bundle holds {member.name!r}, which is not a plain file or directory "
                   f"(links and devices are refused)")
    return name.rstrip("/")


def _sha256_of(fh: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: fh.read(CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def bundle_inspect(fh: IO[bytes]) -> dict[str, Any]:
    """The checked ``manifest.json`` of the bundle in ``fh`` as a dict; ``InvalidInput`` otherwise."""
    try:
        return _inspect(fh)
    except ARCHIVE_ERRORS as err:  # corrupt compressed data surfaces wherever it is first read
        raise _bad(f"the bundle archive is truncated or corrupt ({type(err).__name__}: {err})") from None


def _inspect(fh: IO[bytes]) -> dict[str, Any]:
    from edge_agent.models.bundle import Manifest  # the agent's own schema: one definition

    try:
        tar = tarfile.open(fileobj=fh, mode="r:*")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise _bad(f"not a model bundle: expected the .tar.gz that 'vad-edge train' writes ({err})") from None
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as err:
            raise _bad(f"the bundle archive is truncated or corrupt ({err})") from None
        files: dict[str, tarfile.TarInfo] = {}
        for member in members:
            name = _member_name(member)
            if member.isfile():
                if name in files:
                    raise _bad(f"the bundle holds {name!r} twice")
                files[name] = member
        unpacked = sum(m.size for m in files.values())
        if unpacked > max_bundle_bytes() * UNPACKED_FACTOR:
            raise BundleTooLarge(f"the bundle unpacks to {unpacked} bytes, more than "
                                 f"{max_bundle_bytes() * UNPACKED_FACTOR} (MODEL_BUNDLE_MAX_BYTES x {UNPACKED_FACTOR})")
        entry = files.get(MANIFEST)
        if entry is None:
            raise _bad(f"not a model bundle: no {MANIFEST} at the top of the archive")
        if entry.size > MAX_MANIFEST_BYTES:
            raise _bad(f"{MANIFEST} is {entry.size} bytes, more than {MAX_MANIFEST_BYTES}")
        raw = _read(tar, entry)
        try:
            manifest = Manifest.model_validate_json(raw)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "<root>"
            raise _bad(f"{MANIFEST} is invalid at {where}: {first['msg']}") from None
        if not manifest.models:
            raise _bad(f"{MANIFEST} lists no models")
        listed = set()
        for model in manifest.models:
            for f in model.files:
                member = files.get(f.path)
                if member is None:
                    raise _bad(f"file {f.path} listed in {MANIFEST} (model {model.name!r}) is missing")
                if member.size != f.size:
                    raise _bad(f"file {f.path} is {member.size} bytes, {MANIFEST} says {f.size}")
                extracted = tar.extractfile(member)
                assert extracted is not None  # a regular file
                actual, _ = _sha256_of(extracted)
                if actual != f.sha256:
                    raise _bad(f"sha256 mismatch for {f.path}: {MANIFEST} says {f.sha256}, file has {actual}")
                listed.add(f.path)
        unlisted = sorted(n for n in files if n.startswith("models/") and n not in listed)
        if unlisted:
            raise _bad(f"files not listed in {MANIFEST}: {unlisted}")
        stream = tar.fileobj
        assert stream is not None
        while stream.read(CHUNK):  # to the end: gzip checks its CRC and length only there
            pass
    return json.loads(manifest.model_dump_json())


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    extracted = tar.extractfile(member)
    if extracted is None:
        raise _bad(f"{member.name} is not a file")
    try:
        return extracted.read()
    except (tarfile.TarError, EOFError, OSError) as err:
        raise _bad(f"the bundle archive is truncated or corrupt ({err})") from None


# --- writes -------------------------------------------------------------------------------------
def _visible_cameras(member: Membership, camera_ids: Iterable[int]) -> list[Camera]:
    wanted = sorted(set(camera_ids))
    found = {c.id: c for c in camera_list(membership=member).filter(id__in=wanted)}
    if missing := [i for i in wanted if i not in found]:
        raise InvalidInput.field("cameras", f"camera(s) {missing} not found")
    return [found[i] for i in wanted]


def artifact_create(*, member: Membership, name: str, file: File, version: str = "",
                    camera_ids: Iterable[int] = ()) -> ModelArtifact:
    """Check and store an uploaded bundle; ``version`` defaults to the manifest's ``created``."""
    require(member, Action.MANAGE_SITES)
    size = file.size
    if size is not None and size > max_bundle_bytes():
        raise BundleTooLarge(f"bundle is {size} bytes, more than {max_bundle_bytes()} (MODEL_BUNDLE_MAX_BYTES)")
    if size == 0:
        raise _bad("the uploaded file is empty")
    cameras = _visible_cameras(member, camera_ids)
    file.seek(0)
    manifest = bundle_inspect(file)
    version = version or manifest["created"]
    if ModelArtifact.objects.filter(name=name, version=version).exists():
        raise Conflict({"version": [f"model bundle {name!r} version {version!r} exists; upload it with "
                                    f"another version"]})
    file.seek(0)
    sha256, size = _sha256_of(file)
    capabilities = sorted({c for m in manifest["models"] for c in m["capabilities"]})
    file.seek(0)
    stored = bundle_storage().save(f"{member.tenant_id}/{secrets.token_hex(12)}.tar.gz", file)
    try:
        with transaction.atomic():
            artifact = ModelArtifact.objects.create(
                tenant_id=member.tenant_id, name=name, version=version, sha256=sha256, size=size,
                capabilities=capabilities, manifest=manifest, storage_name=stored, created_by_id=member.user_id)
            _assign(artifact, cameras)
            audit_record(tenant_id=member.tenant_id, action="model_artifact.create", actor=member, target=artifact,
                         after={"name": name, "version": version, "sha256": sha256, "size": size,
                                "capabilities": capabilities, "cameras": [c.id for c in cameras]})
    except IntegrityError:
        bundle_storage().delete(stored)
        raise Conflict({"version": [f"model bundle {name!r} version {version!r} exists"]}) from None
    except BaseException:
        bundle_storage().delete(stored)
        raise
    log.info("model_artifact.created", extra={"tenant_id": member.tenant_id, "artifact_id": artifact.id,
                                             "sha256": sha256, "size": size})
    return artifact


def _assign(artifact: ModelArtifact, cameras: list[Camera]) -> None:
    if not cameras:
        return
    from compliance.policy import require_capabilities_allowed

    for camera in cameras:  # a bundle whose capabilities the camera's effective policy refuses: 400
        require_capabilities_allowed(camera, artifact.capabilities, what=f"model bundle {artifact.name!r}",
                                     field="cameras")
    previous = dict(CameraBundle.objects.filter(camera__in=cameras).values_list("camera_id", "artifact_id"))
    for camera in cameras:
        if previous.get(camera.id) != artifact.id:
            CameraBundle.objects.update_or_create(camera=camera, defaults={"artifact": artifact})
    edge_config_changed(device_ids=[c.device_id for c in cameras if previous.get(c.id) != artifact.id])


def artifact_set_cameras(*, member: Membership, artifact_id: int, camera_ids: Iterable[int]) -> ModelArtifact:
    """The cameras (of those the member sees) that run this bundle: exactly ``camera_ids``. A camera
    that ran another bundle switches to this one; unassigned cameras run their config's models."""
    require(member, Action.MANAGE_SITES)
    cameras = _visible_cameras(member, camera_ids)
    with transaction.atomic():
        artifact = ModelArtifact.objects.select_for_update().filter(id=artifact_id).first()
        if artifact is None:
            raise NotFound(f"model bundle {artifact_id} not found")
        visible = camera_list(membership=member).values("id")
        dropped = (CameraBundle.objects.filter(artifact=artifact, camera_id__in=visible)
                   .exclude(camera_id__in=[c.id for c in cameras]))
        edge_config_changed(device_ids=list(dropped.values_list("camera__device_id", flat=True)))
        before = sorted(artifact.assignments.values_list("camera_id", flat=True))
        dropped.delete()
        _assign(artifact, cameras)
        audit_record(tenant_id=member.tenant_id, action="model_artifact.assign", actor=member, target=artifact,
                     before={"cameras": before},
                     after={"cameras": sorted(artifact.assignments.values_list("camera_id", flat=True))})
    return artifact


def artifact_delete(*, member: Membership, artifact_id: int) -> None:
    """Delete the bundle and its file; the cameras that ran it run their config's models again."""
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        artifact = ModelArtifact.objects.select_for_update().filter(id=artifact_id).first()
        if artifact is None:
            raise NotFound(f"model bundle {artifact_id} not found")
        edge_config_changed(device_ids=list(artifact.assignments.values_list("camera__device_id", flat=True)))
        name = artifact.storage_name
        audit_record(tenant_id=member.tenant_id, action="model_artifact.delete", actor=member, target=artifact,
                     before={"name": artifact.name, "version": artifact.version, "sha256": artifact.sha256})
        artifact.delete()
        transaction.on_commit(lambda: _delete_file(name))


def _delete_file(name: str) -> None:
    try:
        bundle_storage().delete(name)
    except Exception:  # storage edge: the row is gone; a left-over file is logged, not fatal
        log.error("model_artifact.file_delete_failed", extra={"storage_name": name}, exc_info=True)
