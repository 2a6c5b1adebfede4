"""Model bundles: a directory or ``.tar.gz`` holding ``manifest.json`` and each model's files.

Layout::

    manifest.json
    models/<name>/...      files written by ``model.save(directory)``

``manifest.json`` records the bundle format version, camera and scene, and per model: name,
type, version, capabilities, vote weight, input spec, params, calibration statistics and every
file with its sha256 and size. :func:`load_bundle` checks the policy first (refusing a forbidden
capability and saying why), then every file's sha256 (a mismatch names the file), then loads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from edge_agent._compat import UTC
from edge_agent.errors import BundleError, ChecksumMismatch
from edge_agent.models.base import AnomalyModel, Capability, InputSpec
from edge_agent.models.registry import check_policy, get_model_class
from edge_agent.pipeline.calibrate import Calibrator

if TYPE_CHECKING:
    from edge_agent.config import Policy
    from edge_agent.pipeline.pipeline import Member

BUNDLE_FORMAT = "vad-edge-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    path: str  # relative to the bundle root, '/' separated
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class ModelEntry(_Strict):
    name: str
    type: str
    version: str
    capabilities: list[Capability]
    votes: bool
    weight: float = Field(gt=0)
    input_spec: dict[str, int]
    params: dict[str, JsonValue]
    calibration: dict[str, JsonValue] | None
    files: list[FileEntry]


class Manifest(_Strict):
    format: Literal["vad-edge-bundle"] = "vad-edge-bundle"
    format_version: Literal[1] = 1
    created: str
    camera_id: str
    scene: str
    resize: tuple[int, int]
    color: bool = False
    policy_id: str = "default"
    models: list[ModelEntry]
    training: dict[str, JsonValue] = Field(default_factory=dict)
    # what ``vad-edge train`` chose from the camera's own validation (edge_agent.pipeline.tuning.Tuning)
    tuning: dict[str, JsonValue] | None = None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Bundle:
    manifest: Manifest
    members: list[Member]
    root: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)


# ---------------------------------------------------------------- writing
def write_bundle(out: Path, *, camera_id: str, scene: str, resize: tuple[int, int], color: bool,
                 members: list[Member], policy_id: str = "default", training: dict[str, Any] | None = None,
                 tuning: dict[str, Any] | None = None) -> Path:
    """Save fitted members into ``out`` (a directory, or a ``.tar.gz`` when the name says so)."""
    tarball = out.name.endswith((".tar.gz", ".tgz"))
    with tempfile.TemporaryDirectory(prefix="vad-bundle-") as tmp:
        root = Path(tmp) / "bundle"
        root.mkdir()
        entries = [_save_member(root, m) for m in members]
        manifest = Manifest(created=dt.datetime.now(UTC).isoformat(timespec="seconds"), camera_id=camera_id,
                            scene=scene, resize=resize, color=color, policy_id=policy_id, models=entries,
                            training=training or {}, tuning=tuning)
        (root / MANIFEST).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        if tarball:
            with tarfile.open(out, "w:gz") as tar:
                for p in sorted(root.rglob("*")):
                    tar.add(p, arcname=p.relative_to(root).as_posix(), recursive=False)
        else:
            if out.exists():
                if not (out / MANIFEST).is_file() and any(out.iterdir()):
                    raise BundleError(f"refusing to overwrite {out}: it exists and is not a model bundle")
                shutil.rmtree(out)
            shutil.copytree(root, out)
    return out


def _save_member(root: Path, m: Member) -> ModelEntry:
    mdir = root / "models" / m.name
    mdir.mkdir(parents=True)
    params = m.model.save(mdir)
    files = [FileEntry(path=p.relative_to(root).as_posix(), sha256=sha256_file(p), size=p.stat().st_size)
             for p in sorted(mdir.rglob("*")) if p.is_file()]
    return ModelEntry(name=m.name, type=m.model.type_key, version=m.model.version,
                      capabilities=sorted(m.model.capabilities), votes=m.model.votes, weight=m.weight,
                      input_spec=m.model.input_spec.to_dict(), params=json.loads(json.dumps(params)),
                      calibration=m.calibrator.to_dict() if m.calibrator is not None else None, files=files)


# ---------------------------------------------------------------- reading
def read_manifest(root: Path, label: str) -> Manifest:
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"bundle {label} has no {MANIFEST}")
    try:
        return Manifest.model_validate_json(mpath.read_bytes())
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "<root>"
        raise BundleError(f"bundle {label}: {MANIFEST} is invalid at {loc}: {first['msg']}") from err


def _open(path: Path) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    if path.is_dir():
        return path, None
    if not path.is_file():
        raise BundleError(f"bundle {path} does not exist")
    if not hasattr(tarfile, "data_filter"):  # Python < 3.10.12 / 3.11.4: no safe extraction filter
        raise BundleError(f"bundle {path}: unpacking a .tar.gz bundle safely needs Python 3.10.12+ or 3.11.4+ "
                          f"(this is {platform.python_version()}); upgrade Python or use a bundle directory")
    tmp = tempfile.TemporaryDirectory(prefix="vad-bundle-")
    try:
        with tarfile.open(path, "r:*") as tar:
            tar.extractall(tmp.name, filter="data")  # refuses absolute paths, '..' and links out
    except (tarfile.TarError, OSError, EOFError) as err:
        tmp.cleanup()
        raise BundleError(f"bundle {path} is not a readable directory or tar.gz: {err}") from err
    return Path(tmp.name), tmp


def verify_files(root: Path, manifest: Manifest, label: str) -> None:
    listed = set()
    for entry in manifest.models:
        for f in entry.files:
            p = (root / f.path).resolve()
            if not p.is_relative_to(root.resolve()):
                raise BundleError(f"bundle {label}: file path {f.path!r} escapes the bundle")
            if not p.is_file():
                raise BundleError(f"bundle {label}: file {f.path} listed in {MANIFEST} is missing")
            actual = sha256_file(p)
            if actual != f.sha256:
                raise ChecksumMismatch(f"{label}/{f.path}" if label else f.path, f.sha256, actual)
            listed.add(p)
    extra = [p.relative_to(root).as_posix() for p in (root / "models").rglob("*") if p.is_file() and p.resolve() not in listed] \
        if (root / "models").is_dir() else []
    if extra:
        raise BundleError(f"bundle {label}: files not listed in {MANIFEST}: {sorted(extra)}")


def load_bundle(path: Path | str, *, policy: Policy | None = None) -> Bundle:
    from edge_agent.pipeline.pipeline import Member  # late: pipeline imports models

    path = Path(path)
    root, tmp = _open(path)
    label = str(path)
    manifest = read_manifest(root, label)
    classes: list[type[AnomalyModel]] = []
    for entry in manifest.models:  # policy first: refuse before reading any weights
        cls = get_model_class(entry.type)
        check_policy(entry.name, {*entry.capabilities, *cls.capabilities}, policy)
        if entry.version != cls.version:
            raise BundleError(f"bundle {label}: model {entry.name!r} was fitted by version {entry.version} of "
                              f"{entry.type!r}, this agent runs version {cls.version}; refit it with 'vad-edge train'")
        classes.append(cls)
    verify_files(root, manifest, label)
    members = []
    for entry, cls in zip(manifest.models, classes, strict=True):
        model = cls.load(root / "models" / entry.name, dict(entry.params))
        model.input_spec = InputSpec.from_dict(entry.input_spec)
        cal = Calibrator.from_dict(dict(entry.calibration)) if entry.calibration is not None else None
        members.append(Member(entry.name, model, cal, entry.weight))
    return Bundle(manifest, members, root, tmp)
