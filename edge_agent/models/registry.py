"""Model registry: ``type_key`` -> class, filled by the :func:`register` decorator.

Built-in model modules are imported lazily (so ``onnxruntime`` is only imported when an ONNX
plug-in is used). A module that fails to import keeps its ``ImportError``; asking for one of its
types raises :class:`RuntimeUnavailable` chained to it - never a silent flag.

:func:`load_model` refuses unknown types (listing the known ones) and any model whose
capabilities the policy forbids (:class:`ForbiddenCapability` naming model, capability, policy).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edge_agent.errors import ConfigError, ForbiddenCapability, RuntimeUnavailable, UnknownModelType
from edge_agent.models.base import BIOMETRIC_CAPABILITIES, AnomalyModel, Capability

if TYPE_CHECKING:
    from edge_agent.config import Policy

log = logging.getLogger(__name__)

REGISTRY: dict[str, type[AnomalyModel]] = {}

#: built-in model types and the module that defines each (imported on first use)
BUILTIN_MODULES: dict[str, str] = {
    "flow": "edge_agent.models.flow",
    "objects": "edge_agent.models.objects",
    "autoencoder": "edge_agent.models.autoencoder",
    "appearance": "edge_agent.models.appearance",
    "hog_person": "edge_agent.models.person",
    "yolo_onnx": "edge_agent.models.person",
    "clip_onnx": "edge_agent.models.clip",
    "face_haar": "edge_agent.models.face",
    "face_recognition_onnx": "edge_agent.models.face",
    "zone_rules": "edge_agent.models.zones",
}

_IMPORT_ERRORS: dict[str, ImportError] = {}

M = TypeVar("M", bound=type[AnomalyModel])


def register(cls: M) -> M:
    """Class decorator: make ``cls`` loadable by its ``type_key``."""
    key = getattr(cls, "type_key", None)
    if not key:
        raise TypeError(f"{cls.__name__} has no type_key")
    other = REGISTRY.get(key)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise TypeError(f"type_key {key!r} already registered by {other.__module__}.{other.__qualname__}")
    REGISTRY[key] = cls
    return cls


def _import_builtin(module: str) -> None:
    if module in _IMPORT_ERRORS:
        return
    try:
        importlib.import_module(module)
    except ImportError as err:  # kept and re-raised as RuntimeUnavailable when asked for
        _IMPORT_ERRORS[module] = err
        log.debug("model module unavailable", extra={"module": module, "error": str(err)})


def known_types() -> list[str]:
    """Every type that could be loaded: registered ones plus the built-in names."""
    return sorted(set(REGISTRY) | set(BUILTIN_MODULES))


def get_model_class(type_key: str) -> type[AnomalyModel]:
    """The class for ``type_key``; imports its built-in module on first use."""
    if type_key not in REGISTRY and type_key in BUILTIN_MODULES:
        module = BUILTIN_MODULES[type_key]
        _import_builtin(module)
        err = _IMPORT_ERRORS.get(module)
        if err is not None and type_key not in REGISTRY:
            raise RuntimeUnavailable(f"model type {type_key!r} needs {module}, which failed to import: {err}") from err
    cls = REGISTRY.get(type_key)
    if cls is None:
        raise UnknownModelType(type_key, known_types())
    return cls


def check_policy(name: str, capabilities: Iterable[Capability | str], policy: Policy | None) -> None:
    """Raise :class:`ForbiddenCapability` if ``policy`` does not allow every capability."""
    caps = {Capability(c) for c in capabilities}
    policy_id = policy.policy_id if policy is not None else "default"
    forbidden = set(policy.forbidden_capabilities) if policy is not None else set()
    allowed_bio = set(policy.allowed_biometric) if policy is not None else set()
    if bad := sorted(c.value for c in caps & forbidden):
        raise ForbiddenCapability(name, bad, policy_id, "listed in forbidden_capabilities")
    if bad := sorted(c.value for c in (caps & BIOMETRIC_CAPABILITIES) - allowed_bio):
        raise ForbiddenCapability(name, bad, policy_id, "biometric capabilities are off unless allowed_biometric lists them")


def load_model(
    type_key: str,
    *,
    params: dict[str, Any] | None = None,
    directory: Path | None = None,
    policy: Policy | None = None,
    name: str | None = None,
) -> AnomalyModel:
    """Build a model: from ``directory`` (a fitted bundle entry) when given, else fresh from params.

    The policy check runs before any weights are read.
    """
    cls = get_model_class(type_key)
    check_policy(name or type_key, cls.capabilities, policy)
    try:
        if directory is not None:
            return cls.load(directory, dict(params or {}))
        return cls(**dict(params or {}))
    except ConfigError as err:
        raise ConfigError(f"model {name or type_key!r} ({type_key}): {err}") from err


__all__ = ["BUILTIN_MODULES", "REGISTRY", "check_policy", "get_model_class", "known_types", "load_model", "register"]
