"""Model bundles from the cloud: download with device auth, check, keep, resolve per camera.

The signed config (``edge_agent.signedconfig``) lists under ``model_bundles`` each bundle the
device's cameras run: id, name, version, sha256, size, download URL and cameras. Because the
config's signature verified, that sha256 and size are the cloud's own (the "signed manifest").

:func:`ensure_bundle` returns ``<data_dir>/bundles/<sha256>/bundle.tar.gz``:

- a file already there whose sha256 matches is used as it is (no download);
- otherwise the URL is fetched with :func:`edge_agent.transport.http.signed_request` into a
  temporary file in ``<data_dir>/bundles/``, counting bytes (more than ``size`` stops the
  download) and hashing as it goes; only when size and sha256 both match is the file moved into
  place (``os.replace``). Anything else raises :class:`BundleRefused` and deletes the temporary
  file; bundles already in place (other sha256 directories) are never touched, so the camera
  keeps the bundle it runs.

Loading the file (``edge_agent.models.bundle.load_bundle``) then checks the policy and every
model file's sha256 against the bundle's own ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.errors import BundleError
from edge_agent.transport.http import EdgeHttpError, signed_request

if TYPE_CHECKING:
    from edge_agent.signedconfig import BundleRef, DeviceConfig
    from edge_agent.transport.device import Device

log = logging.getLogger(__name__)

BUNDLES_DIR = "bundles"
BUNDLE_FILE = "bundle.tar.gz"
CHUNK = 1 << 16
TIMEOUT_S = 60.0


class BundleRefused(BundleError):
    """A downloaded bundle did not match its signed reference (or could not be fetched); the
    bundle in force, if any, stays."""

    def __init__(self, ref: BundleRef, reason: str) -> None:
        self.ref = ref
        self.reason = reason
        super().__init__(f"model bundle {ref.name!r} version {ref.version!r} (id {ref.id}) refused: {reason}")


def bundle_path(data_dir: Path, sha256: str) -> Path:
    return Path(data_dir) / BUNDLES_DIR / sha256 / BUNDLE_FILE


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_bundle(data_dir: Path, ref: BundleRef) -> Path | None:
    """The kept file for ``ref`` when its size and sha256 still match, else None."""
    path = bundle_path(data_dir, ref.sha256)
    try:
        if path.stat().st_size == ref.size and _sha256_file(path) == ref.sha256:
            return path
    except OSError:
        return None
    log.warning("bundle.cache_mismatch", extra={"bundle_id": ref.id, "path": str(path)})
    return None


def ensure_bundle(device: Device, ref: BundleRef, *, timeout: float = TIMEOUT_S) -> Path:
    """The local, verified file of ``ref``: the kept one, or a fresh download (see the module)."""
    if (path := cached_bundle(device.data_dir, ref)) is not None:
        return path
    root = Path(device.data_dir) / BUNDLES_DIR
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".tmp", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _download(device, ref, out, timeout)
            out.flush()
            os.fsync(out.fileno())
        if size != ref.size:
            raise BundleRefused(ref, f"downloaded {size} bytes, the signed config says {ref.size}")
        if digest != ref.sha256:
            raise BundleRefused(ref, f"sha256 mismatch: the signed config says {ref.sha256}, the download has {digest}")
        final = bundle_path(device.data_dir, ref.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("bundle.downloaded", extra={"bundle_id": ref.id, "sha256": ref.sha256, "size": size})
    return final


def _download(device: Device, ref: BundleRef, out: object, timeout: float) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    try:
        with signed_request(device, "GET", ref.url, timeout=timeout) as response:
            while chunk := response.read(CHUNK):
                size += len(chunk)
                if size > ref.size:
                    raise BundleRefused(ref, f"the download is larger than the {ref.size} bytes the signed config says")
                digest.update(chunk)
                out.write(chunk)  # type: ignore[attr-defined]
    except EdgeHttpError as err:
        raise BundleRefused(ref, f"download failed: {err}") from None
    except OSError as err:  # connection reset / timeout mid-body
        raise BundleRefused(ref, f"download interrupted: {err}") from None
    return digest.hexdigest(), size


def camera_bundles(device: Device, config: DeviceConfig) -> dict[str, Path]:
    """Camera id -> local bundle file, for every camera a bundle of ``config`` names.

    A bundle that cannot be fetched or does not verify raises :class:`BundleRefused` (the caller
    keeps the cameras' current models and reports it)."""
    out: dict[str, Path] = {}
    for ref in config.model_bundles:
        path = ensure_bundle(device, ref)
        for camera_id in ref.cameras:
            out[camera_id] = path
    return out


__all__ = ["BUNDLES_DIR", "BUNDLE_FILE", "BundleRefused", "bundle_path", "cached_bundle", "camera_bundles",
           "ensure_bundle"]
