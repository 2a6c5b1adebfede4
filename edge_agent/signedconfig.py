"""The config the cloud pushes, verified and kept: :class:`ConfigStore`.

A :class:`edge_agent.protocol.ConfigPush` is applied only when

1. its ``key_id`` is one of the cloud's config keys (``device.json`` ``config_keys``),
2. the Ed25519 ``signature`` over the UTF-8 ``payload`` verifies with that key,
3. its ``version`` is above the last good one (a lower one is a rollback; the same version with
   another payload is a replay; the same version with the same payload is a re-delivery, e.g.
   after a reconnect, and changes nothing),
4. the payload parses as a :class:`DeviceConfig` (unknown keys are errors) for this device.

Then payload, version, key id and signature are written atomically (temp file + ``os.replace``,
mode 0600: the stream URLs carry camera credentials) as the last good config. Anything else raises
:class:`ConfigRefused` with a ``reason`` code and keeps the last good config; the agent reports
``store.last_refusal`` in its next heartbeat/log line. :meth:`ConfigStore.load_last_good` reads
the kept config back on start (verified again).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.config import ModelConfig, Policy
from edge_agent.errors import ConfigError, EdgeError
from edge_agent.models.base import Capability
from edge_agent.protocol import ConfigPush

CONFIG_FILE = "config.json"

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneSpec(_Strict):
    kind: Literal["roi", "privacy_mask", "intrusion", "loitering", "line"]
    name: Name
    points: list[tuple[Unit, Unit]] = Field(min_length=2, max_length=500)  # normalised 0..1
    loiter_seconds: int | None = Field(default=None, ge=0)


class PrivacyPolicySpec(_Strict):
    """The resolved privacy policy (cloud: compliance.policy). :meth:`as_policy` is what the
    registry enforces: a model with a forbidden capability, or a biometric one not in
    ``allowed_biometric``, is refused at load (``edge_agent.models.registry.check_policy``)."""

    jurisdiction: Annotated[str, Field(min_length=2, max_length=10)]
    forbidden_capabilities: list[Capability]
    policy_id: Annotated[str, Field(min_length=1, max_length=200)] = "default"
    allowed_biometric: list[Capability] = Field(default_factory=list)

    def as_policy(self) -> Policy:
        return Policy(policy_id=self.policy_id, forbidden_capabilities=frozenset(self.forbidden_capabilities),
                      allowed_biometric=frozenset(self.allowed_biometric))


class CameraSpec(_Strict):
    id: Name  # the cloud Camera's pk, as on the wire
    name: Name
    stream_url: str
    width: int = Field(ge=16, le=8192)
    height: int = Field(ge=16, le=8192)
    fps: float = Field(ge=0.5, le=240)
    scene_class: Literal["indoor", "outdoor", "parking", "retail"]
    enabled: bool
    zones: list[ZoneSpec] = Field(default_factory=list)
    scene_image_requested_at: float | None = None  # epoch s: upload a scene image (edge_agent.scene)
    context: Literal["unspecified", "workplace", "education", "public_space", "publicly_accessible",
                     "private"] = "unspecified"
    models: list[ModelConfig] | None = None  # None: the default set for the scene class
    policy: PrivacyPolicySpec | None = None  # this camera's own policy; None: the device-wide one


class ShiftSpec(_Strict):
    name: Name
    weekdays: list[Annotated[int, Field(ge=1, le=7)]]  # ISO: 1 Monday .. 7 Sunday
    start: ClockTime
    end: ClockTime  # earlier than start for an overnight shift
    sensitivity: Unit


class SiteSpec(_Strict):
    id: Name
    name: Name
    timezone: Name  # IANA name; shifts are in this zone
    jurisdiction: Annotated[str, Field(min_length=2, max_length=10)]
    scene_images_allowed: bool = False  # the site lets a face-blurred background image leave it


class BundleRef(_Strict):
    """A model bundle some of this device's cameras run (``edge_agent.transport.bundles`` fetches it)."""

    id: int = Field(ge=1)
    name: Name
    version: Name
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(ge=1)
    capabilities: list[Capability] = Field(default_factory=list)
    url: Annotated[str, Field(min_length=1, max_length=2000)]  # relative to cloud_url, device-signed GET
    cameras: list[Name] = Field(default_factory=list)  # CameraSpec ids that run it


class DeviceConfig(_Strict):
    """The signed payload (cameras.edgeconfig.device_config on the cloud)."""

    schema_: Literal[1] = Field(alias="schema")
    device_id: int = Field(ge=1)
    site: SiteSpec
    cameras: list[CameraSpec]
    shifts: list[ShiftSpec]
    model_bundles: list[BundleRef]
    privacy_policy: PrivacyPolicySpec


class ConfigRefused(EdgeError):
    """A pushed config was not applied; the last good config stays in force.

    ``reason``: ``unknown_key_id``, ``bad_signature``, ``rollback``, ``replay``, ``bad_payload``,
    ``wrong_device``, or ``stored_config_invalid`` (the kept file does not verify on load).
    """

    def __init__(self, reason: str, detail: str, *, version: int | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.version = version
        super().__init__(f"config refused ({reason}): {detail}")

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "detail": self.detail, "version": self.version}


@dataclass(frozen=True, slots=True)
class Applied:
    config: DeviceConfig
    version: int
    changed: bool  # False for a re-delivery of the version already in force


def _public_key(key_id: str, b64: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(b64, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise ConfigError(f"config key {key_id!r} in device.json is not base64 of a raw 32-byte Ed25519 "
                          f"public key") from None


class ConfigStore:
    """Verifies pushes against ``keys`` (key id -> base64 public key) and keeps the last good one
    in ``data_dir/config.json``. ``device_id``, when given, must match the payload's."""

    def __init__(self, data_dir: Path | str, keys: dict[str, str], *, device_id: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / CONFIG_FILE
        self._keys = {kid: _public_key(kid, b64) for kid, b64 in keys.items()}
        self.device_id = device_id
        self.current: DeviceConfig | None = None
        self.version = 0
        self._payload: str | None = None
        self.last_refusal: ConfigRefused | None = None

    # --- checks --------------------------------------------------------------------------
    def _verify(self, push: ConfigPush) -> None:
        key = self._keys.get(push.key_id)
        if key is None:
            raise ConfigRefused("unknown_key_id", f"key id {push.key_id!r} is not a known config key; "
                                                  f"known: {sorted(self._keys)}", version=push.version)
        try:
            key.verify(base64.b64decode(push.signature, validate=True), push.payload.encode())
        except (InvalidSignature, binascii.Error, ValueError):
            raise ConfigRefused("bad_signature", f"signature does not verify with key {push.key_id!r}",
                                version=push.version) from None

    def _parse(self, push: ConfigPush) -> DeviceConfig:
        try:
            config = DeviceConfig.model_validate_json(push.payload)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            raise ConfigRefused("bad_payload", f"{where}: {first['msg']} ({err.error_count()} error(s))",
                                version=push.version) from None
        if self.device_id is not None and config.device_id != self.device_id:
            raise ConfigRefused("wrong_device", f"config is for device {config.device_id}, this is device "
                                                f"{self.device_id}", version=push.version)
        return config

    # --- public --------------------------------------------------------------------------
    def apply(self, push: ConfigPush) -> Applied:
        """Verify and keep ``push``; raises :class:`ConfigRefused` (recorded in ``last_refusal``)."""
        try:
            self._verify(push)
            if push.version < self.version:
                raise ConfigRefused("rollback", f"version {push.version} is older than the config in force "
                                                f"(version {self.version})", version=push.version)
            if push.version == self.version:
                if push.payload == self._payload and self.current is not None:
                    return Applied(self.current, self.version, changed=False)
                raise ConfigRefused("replay", f"version {push.version} is already in force with another "
                                              f"payload", version=push.version)
            config = self._parse(push)
        except ConfigRefused as refused:
            self.last_refusal = refused
            raise
        self._write(push)
        self.current, self.version, self._payload = config, push.version, push.payload
        self.last_refusal = None
        return Applied(config, push.version, changed=True)

    def load_last_good(self) -> DeviceConfig | None:
        """The kept config (verified again with the known keys), or None if there is none yet."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            push = ConfigPush.model_validate(json.loads(raw))
            self._verify(push)
            config = self._parse(push)
        except (ValueError, ConfigRefused) as err:
            why = err.detail if isinstance(err, ConfigRefused) else "not a stored config push"
            raise ConfigRefused("stored_config_invalid", f"{self.path}: {why}") from None
        self.current, self.version, self._payload = config, push.version, push.payload
        return config

    def _write(self, push: ConfigPush) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps(push.model_dump(mode="json"), sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=self.data_dir)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


__all__ = ["Applied", "BundleRef", "CameraSpec", "ConfigRefused", "ConfigStore", "DeviceConfig", "PrivacyPolicySpec",
           "ShiftSpec", "SiteSpec", "ZoneSpec"]
