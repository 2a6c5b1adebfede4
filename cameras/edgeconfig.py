"""The signed device config: what one edge device needs to run its cameras, signed by the cloud.

* :func:`device_config` - the config as a dict: the device's cameras (stream URL decrypted: it
  travels only inside the signed config, over the device-authenticated socket), their zones and
  masks, the site's shifts and time zone, model bundle references, the resolved privacy policy.
* :func:`canonical_json` - the bytes that are signed: sorted keys, separators ``(",", ":")``.
* :func:`config_sign` - a :class:`edge_agent.protocol.ConfigPush`; ``version`` is the device's
  ``config_version``, increased only when the payload differs from the last one pushed (its
  sha256 is kept in ``EdgeDevice.config_sha256``).
* :func:`config_push_for_device` - the same from ids, for the ``/ws/edge/`` consumer.
* :func:`config_push_fetch` - the same for ``GET /edge/devices/<id>/config`` (a config too large
  for one websocket frame): the signing device's own config only.
* :func:`config_public_keys` - key id -> base64 raw Ed25519 public key, for the enrollment answer
  (``device.json`` ``config_keys``).

Keys come from settings ``EDGE_CONFIG_SIGNING_KEYS`` ("kid1:b64,kid2:b64": the first signs, all
are published, for rotation) or ``EDGE_CONFIG_SIGNING_KEY`` + ``EDGE_CONFIG_KEY_ID``. With DEBUG
and no key, settings derive a dev-only key from SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import transaction

from cameras.models import Camera, EdgeDevice, Shift, Zone
from edge_agent.protocol import ConfigPush
from tenants.models import Site
from tenants.scope import tenant_scope
from vadcloud.keyring import key_ring, public_b64

CONFIG_SCHEMA_VERSION = 1

#: Capabilities that identify or profile people (names match edge_agent.models.base.Capability);
#: compliance.policy decides each of them per camera.
BIOMETRIC_CAPABILITIES = ("biometric_identification", "emotion_recognition", "gait_analysis")


def privacy_policy_for_site(*, site: Site, camera_policies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The device-wide privacy policy: the strictest of its cameras' effective policies
    (compliance.policy; each camera also carries its own). No camera: every sensitive capability off."""
    from compliance.policy import SENSITIVE_CAPABILITIES

    policies = camera_policies or []
    if not policies:
        return {"policy_id": f"site{site.pk}-no-cameras", "jurisdiction": site.jurisdiction.strip().upper(),
                "forbidden_capabilities": sorted(SENSITIVE_CAPABILITIES), "allowed_biometric": []}
    forbidden = sorted({c for p in policies for c in p["forbidden_capabilities"]})
    allowed = sorted(set.intersection(*(set(p["allowed_biometric"]) for p in policies)) - set(forbidden))
    digest = hashlib.sha256(",".join(p["policy_id"] for p in policies).encode()).hexdigest()[:12]
    return {"policy_id": f"site{site.pk}-{digest}", "jurisdiction": site.jurisdiction.strip().upper(),
            "forbidden_capabilities": forbidden, "allowed_biometric": allowed}


def _camera_models(camera: Camera) -> list[dict[str, Any]] | None:
    """The camera's model configs minus the ones a person stopped (None: the agent's default set)."""
    stopped = set(camera.stopped_models or ())
    if camera.edge_models is None and not stopped:
        return None
    if camera.edge_models is None:
        from edge_agent.config import DEFAULT_MODELS, SceneClass

        specs: list[dict[str, Any]] = [{"type": t} for t in DEFAULT_MODELS[SceneClass(camera.scene_class)]]
    else:
        specs = list(camera.edge_models)
    return [m for m in specs if (m.get("name") or m["type"]) not in stopped]


_bundle_provider: Callable[..., list[dict[str, Any]]] | None = None


def set_model_bundle_provider(provider: Callable[..., list[dict[str, Any]]] | None) -> None:
    """The model registry (``detection.artifacts.bundle_refs_for_device``, registered by
    ``DetectionConfig.ready``: cameras does not import detection) lists a device's bundles."""
    global _bundle_provider
    _bundle_provider = provider


def model_bundles_for_device(*, device: EdgeDevice) -> list[dict[str, Any]]:
    """Per bundle the device's cameras run: id, name, version, sha256, size, capabilities, download
    url and cameras; signed with the rest, so the agent's sha256 check rests on the signature."""
    return _bundle_provider(device=device) if _bundle_provider is not None else []


def _zone(zone: Zone) -> dict[str, Any]:
    return {"kind": zone.kind, "name": zone.name, "points": [[float(x), float(y)] for x, y in zone.points],
            "loiter_seconds": zone.loiter_seconds}


def _camera(camera: Camera, zones: list[Zone], policy: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": str(camera.pk), "name": camera.name, "stream_url": camera.stream_url or "",
        "width": camera.width, "height": camera.height, "fps": float(camera.fps),
        "scene_class": camera.scene_class, "enabled": camera.enabled,
        "scene_image_requested_at": (camera.scene_image_requested_at.timestamp()
                                     if camera.scene_image_requested_at else None),
        "zones": [_zone(z) for z in zones], "context": camera.context, "policy": policy,
    }
    models = _camera_models(camera)
    if models is not None:
        out["models"] = models
    return out


def _shift(shift: Shift) -> dict[str, Any]:
    return {"name": shift.name, "weekdays": sorted(int(d) for d in shift.weekdays),
            "start": shift.start_time.isoformat(timespec="seconds"),
            "end": shift.end_time.isoformat(timespec="seconds"), "sensitivity": float(shift.sensitivity)}


def device_config(*, device: EdgeDevice) -> dict[str, Any]:
    """Everything the agent needs for the device's cameras, read in the device's own tenant."""
    with tenant_scope(device.tenant_id):
        site = Site.objects.get(pk=device.site_id)
        # a camera stopped by a person (AI Act Art. 14) is not in the config at all
        cameras = list(Camera.objects.filter(device_id=device.pk, stopped_at=None).order_by("pk"))
        from compliance.policy import effective_policy

        policies = {c.pk: effective_policy(c).device_policy() for c in cameras}
        zones: dict[int, list[Zone]] = {c.pk: [] for c in cameras}
        for zone in Zone.objects.filter(camera_id__in=list(zones)).order_by("camera_id", "name", "pk"):
            zones[zone.camera_id].append(zone)
        shifts = list(Shift.objects.filter(site_id=site.pk).order_by("start_time", "name", "pk"))
        return {
            "schema": CONFIG_SCHEMA_VERSION,
            "device_id": device.pk,
            "site": {"id": str(site.pk), "name": site.name, "timezone": site.timezone,
                     "jurisdiction": site.jurisdiction, "scene_images_allowed": site.scene_images_allowed},
            "cameras": [_camera(c, zones[c.pk], policies[c.pk]) for c in cameras],
            "shifts": [_shift(s) for s in shifts],
            "model_bundles": model_bundles_for_device(device=device),
            "privacy_policy": privacy_policy_for_site(site=site, camera_policies=list(policies.values())),
        }


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


# --- keys ------------------------------------------------------------------------------------
def signing_keys() -> list[tuple[str, Ed25519PrivateKey]]:
    """The key ring, signing key first. Raises ImproperlyConfigured naming the bad entry."""
    return key_ring(ring="EDGE_CONFIG_SIGNING_KEYS", single="EDGE_CONFIG_SIGNING_KEY", key_id="EDGE_CONFIG_KEY_ID",
                    default_key_id="k1", what="edge config signing")


def config_public_keys() -> dict[str, str]:
    """Key id -> base64 raw Ed25519 public key, every key of the ring (what ``device.json`` keeps)."""
    return {key_id: public_b64(key) for key_id, key in signing_keys()}


# --- sign ------------------------------------------------------------------------------------
def config_sign(*, device: EdgeDevice) -> ConfigPush:
    """Build, version and sign the device's config.

    The version increases (and is stored with the payload's sha256) only when the payload differs
    from the last one signed for this device, so a reconnect re-sends the same version.
    """
    key_id, key = signing_keys()[0]
    with transaction.atomic(), tenant_scope(device.tenant_id):
        locked = EdgeDevice.objects.select_for_update().get(pk=device.pk)
        payload = canonical_json(device_config(device=locked))
        digest = hashlib.sha256(payload.encode()).hexdigest()
        if locked.config_version == 0 or digest != locked.config_sha256:
            locked.config_version += 1
            locked.config_sha256 = digest
            locked.save(update_fields=["config_version", "config_sha256"])
    device.config_version, device.config_sha256 = locked.config_version, locked.config_sha256
    signature = base64.b64encode(key.sign(payload.encode())).decode()
    return ConfigPush(version=locked.config_version, key_id=key_id, payload=payload, signature=signature)


def config_push_fetch(*, device: EdgeDevice, device_id: int) -> ConfigPush:
    """The signed config ``device`` (authenticated by its request signature) fetches over HTTP when
    it is too large for a websocket frame. Only its own: any other id, another tenant's device
    included, is ``NotFound`` (no existence leak)."""
    from tenants.errors import NotFound

    if device_id != device.id:
        raise NotFound(f"device {device_id} not found")
    return config_sign(device=device)


def config_push_for_device(*, device_id: int, tenant_id: int) -> ConfigPush:
    """:func:`config_sign` for the edge consumer, which holds ids only (after the device handshake)."""
    with tenant_scope(tenant_id):
        device = EdgeDevice.objects.get(pk=device_id)
    return config_sign(device=device)
