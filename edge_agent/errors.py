"""Exceptions of the edge agent: one class per actionable failure.

Every class derives from :class:`EdgeError`. The CLI maps any ``EdgeError`` to a one-line
message on stderr and exit code 2; the multi-camera runner logs it and keeps the other
cameras going. Messages name the offending value (file, field, type) and the allowed values.
"""

from __future__ import annotations

from pathlib import Path


class EdgeError(Exception):
    """Base of every error the edge agent raises on purpose."""


class ConfigError(EdgeError):
    """A configuration file or value is invalid."""


class UnknownModelType(EdgeError):
    """A model ``type`` is not in the registry."""

    def __init__(self, type_key: str, known: list[str]) -> None:
        self.type_key = type_key
        self.known = known
        super().__init__(f"unknown model type {type_key!r}; known: {known}")


class ForbiddenCapability(EdgeError):
    """The policy forbids a capability a model declares."""

    def __init__(self, model: str, capabilities: list[str], policy_id: str, reason: str = "") -> None:
        self.model = model
        self.capabilities = capabilities
        self.policy_id = policy_id
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"model {model!r} uses {capabilities}, forbidden by policy {policy_id!r}{why}"
        )


class RuntimeUnavailable(EdgeError):
    """An optional inference runtime (Hailo, onnxruntime-gpu, ...) is not installed."""


class SourceError(EdgeError):
    """A video source cannot be opened or read."""


class BundleError(EdgeError):
    """A model bundle is missing, corrupt or inconsistent."""


class ChecksumMismatch(BundleError):
    """A bundle file's sha256 differs from the manifest."""

    def __init__(self, path: Path | str, expected: str, actual: str) -> None:
        self.path = str(path)
        super().__init__(f"sha256 mismatch for {self.path}: manifest says {expected}, file has {actual}")


class ModelFileError(EdgeError):
    """A user-supplied model file (ONNX, HEF, embeddings) is unreadable or has the wrong shape."""


class NotFitted(EdgeError):
    """A model that needs fitting was asked to score or save before ``fit``."""
