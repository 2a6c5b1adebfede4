"""The agent wheel the control plane serves at ``/edge/dist/``, built from ``edge_agent/`` in this repo.

The wheel is built on first request (``pip wheel --no-deps`` on a copy of the source, about 2 s)
into ``EDGE_DIST_DIR/<fingerprint>/`` and reused until a source file changes; ``make edge-dist``
builds it ahead of time. Builds are serialised with a file lock, so concurrent requests build once.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

SKIP_DIRS = {"__pycache__", "build", "dist", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
BUILD_TIMEOUT_S = 300


class WheelBuildError(RuntimeError):
    """``pip wheel`` failed on the agent source."""


@dataclass(frozen=True)
class Wheel:
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def agent_source_dir() -> Path:
    return Path(getattr(settings, "EDGE_AGENT_SOURCE_DIR", settings.BASE_DIR / "edge_agent"))


def dist_dir() -> Path:
    return Path(getattr(settings, "EDGE_DIST_DIR", "") or settings.BASE_DIR / "build" / "edge-dist")


def _source_files(src: Path) -> list[Path]:
    files = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in {".pyc", ".pyo"}:
            files.append(path)
    return files


def source_fingerprint(src: Path | None = None) -> str:
    """SHA-256 over the agent source's relative paths and contents (what the wheel is built from)."""
    src = src or agent_source_dir()
    digest = hashlib.sha256()
    for path in _source_files(src):
        digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached(target: Path) -> Wheel | None:
    wheels = sorted(target.glob("*.whl")) if target.is_dir() else []
    return Wheel(wheels[0], _sha256(wheels[0])) if wheels else None


def current_wheel() -> Wheel:
    """The wheel of the current agent source, building it if the cache has none."""
    src = agent_source_dir()
    target = dist_dir() / source_fingerprint(src)[:16]
    if (wheel := _cached(target)) is not None:
        return wheel
    dist_dir().mkdir(parents=True, exist_ok=True)
    with (dist_dir() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (wheel := _cached(target)) is not None:  # another request built it while we waited
            return wheel
        _build(src, target)
        for old in dist_dir().iterdir():  # wheels of older sources are never served again
            if old.is_dir() and old != target:
                shutil.rmtree(old, ignore_errors=True)
    wheel = _cached(target)
    if wheel is None:
        raise WheelBuildError(f"pip wheel produced no .whl in {target}")
    return wheel


def _build(src: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="vad-edge-build-") as tmp:
        copy = Path(tmp) / "src"  # build a copy: setuptools writes build/ and *.egg-info next to the source
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.egg-info", "*.pyc"))
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "--wheel-dir", str(out), str(copy)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
        if proc.returncode != 0:
            raise WheelBuildError(f"pip wheel failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        staged = target.with_name(target.name + ".tmp")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(out, staged)
        staged.rename(target)
    log.info("edge agent wheel built", extra={"dir": str(target)})
