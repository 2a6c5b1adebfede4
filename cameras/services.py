"""Writes for cameras (with their zones) and edge devices. One transaction each: nothing half-written.

Every function takes the acting ``member`` and checks the role (``NotAllowed``) and that the
objects it touches are visible to the member (``NotFound``). The camera/device invariant lives
here, for every write path: a camera's device is at the camera's site.
"""

from __future__ import annotations

import shlex
from typing import Any

from django.conf import settings
from django.db import transaction

from cameras.live import edge_config_changed
from cameras.models import Camera, EdgeDevice, Shift, Zone
from cameras.selectors import camera_list, device_list, shift_list, zone_list
from compliance.audit import audit_record, snapshot
from tenants.billing.services import billing_camera_limit_check, billing_cameras_changed, billing_require_writable
from tenants.errors import InvalidInput, NotFound
from tenants.models import Membership, Site
from tenants.roles import Action, require
from tenants.selectors import visibility

# Fields kept in the audit log's before/after snapshots (compliance.audit); never the stream URL (a secret).
CAMERA_AUDIT = ("site", "device", "name", "enabled", "scene_class", "width", "height", "fps")
ZONE_AUDIT = ("camera", "name", "kind", "points", "loiter_seconds")
DEVICE_AUDIT = ("site", "name", "status")


def _check_site_and_device(*, member: Membership, site: Site, device: EdgeDevice | None) -> None:
    _check_site(member, site)
    if device is not None and device.site_id != site.id:
        raise InvalidInput.field(
            "device", f"device {device.name!r} is at another site than the camera; choose a device of "
                      f"site {site.name!r} or set device to null")


def camera_create(*, member: Membership, zones: list[dict[str, Any]] | None = None, **fields: Any) -> Camera:
    require(member, Action.MANAGE_SITES)
    _check_site_and_device(member=member, site=fields["site"], device=fields.get("device"))
    if "edge_models" in fields:
        fields["edge_models"] = _clean_edge_models(fields["edge_models"])
    with transaction.atomic():
        billing_camera_limit_check(tenant_id=member.tenant_id)  # 402 beyond the plan (or read-only)
        camera = Camera.objects.create(tenant_id=member.tenant_id, **fields)
        _check_models_allowed(camera)  # raises: the whole create rolls back
        for zone in zones or []:
            Zone.objects.create(tenant_id=member.tenant_id, camera=camera, **zone)
        audit_record(tenant_id=camera.tenant_id, action="camera.create", actor=member, target=camera,
                     after=snapshot(camera, CAMERA_AUDIT), zones=len(zones or []))
        edge_config_changed(device_ids=[camera.device_id])
        billing_cameras_changed(tenant_id=camera.tenant_id)  # subscription quantity, after commit
    return camera


def camera_update(*, member: Membership, camera_id: int, **fields: Any) -> Camera:
    """Change a camera. Moving it to another site keeps its device only if the device is there too."""
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    if "edge_models" in fields:
        fields["edge_models"] = _clean_edge_models(fields["edge_models"])
    with transaction.atomic():
        camera = _for_update(camera_list(membership=member), camera_id, "camera")
        before = snapshot(camera, CAMERA_AUDIT)
        site = fields.get("site", camera.site)
        device = fields["device"] if "device" in fields else camera.device
        _check_site_and_device(member=member, site=site, device=device)
        edge_config_changed(device_ids=[camera.device_id, device.id if device else None])  # old and new
        for name, value in fields.items():
            setattr(camera, name, value)
        if {"edge_models", "site", "context", "scene_class"} & set(fields):  # what could enable a capability
            _check_models_allowed(camera)
        camera.save()
        audit_record(tenant_id=camera.tenant_id, action="camera.update", actor=member, target=camera, before=before,
                     after=snapshot(camera, CAMERA_AUDIT))
        return camera


# --- compliance: the camera's edge models against its effective policy; the stop switch ---------
def _clean_edge_models(value: Any) -> list[dict[str, Any]] | None:
    """Validate model configs as the agent will (edge_agent.config.ModelConfig); unknown types are 400."""
    if value is None:
        return None
    from pydantic import TypeAdapter, ValidationError

    from edge_agent.config import ModelConfig, format_validation_error
    from edge_agent.errors import EdgeError
    from edge_agent.models.registry import get_model_class, known_types

    if not isinstance(value, list):
        raise InvalidInput.field("models", "models must be a list of model configs ({'type': ..., ...}) or null")
    adapter: TypeAdapter[Any] = TypeAdapter(list[ModelConfig])
    try:
        parsed = adapter.validate_python(value)
    except ValidationError as err:
        raise InvalidInput.field(
            "models", format_validation_error(err, "models").removeprefix("invalid config ")) from None
    names = [m.model_name for m in parsed]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise InvalidInput.field("models", f"model names must be unique per camera; duplicated: {dupes} (set name)")
    for model in parsed:
        try:
            get_model_class(str(model.type))
        except EdgeError as err:
            raise InvalidInput.field("models", f"model type {model.type!r}: {err}; known: {known_types()}") from None
    return [m.model_dump(mode="json", exclude_defaults=True) | {"type": m.type} for m in parsed]


def camera_model_names(camera: Camera) -> list[str]:
    """The names of the models the camera runs (its configs, or the agent's default set)."""
    from edge_agent.config import DEFAULT_MODELS, SceneClass

    if camera.edge_models is None:
        return list(DEFAULT_MODELS[SceneClass(camera.scene_class)])
    return [m.get("name") or m["type"] for m in camera.edge_models]


def _check_models_allowed(camera: Camera) -> None:
    """400 with the policy's explanation when a model needs a capability the camera may not use."""
    from compliance.policy import edge_model_capabilities, require_capabilities_allowed

    for spec in camera.edge_models or []:
        name = spec.get("name") or spec["type"]
        require_capabilities_allowed(camera, edge_model_capabilities(spec["type"]),
                                     what=f"model {name!r} ({spec['type']})", field="models")


def camera_stop(*, member: Membership, camera_id: int, model: str | None = None) -> Camera:
    """Human oversight (AI Act Art. 14): stop the camera, or one of its models, at once.

    A stopped camera (model) leaves the signed device config; the push goes out on commit."""
    from django.utils import timezone

    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        camera = _for_update(camera_list(membership=member), camera_id, "camera")
        if model is None:
            if camera.stopped_at is None:
                camera.stopped_at, camera.stopped_by_id = timezone.now(), member.user_id
        else:
            if model not in camera_model_names(camera):
                raise InvalidInput.field("model", f"camera {camera.name!r} runs no model {model!r}; its models: "
                                                  f"{camera_model_names(camera)}")
            camera.stopped_models = sorted({*camera.stopped_models, model})
            camera.stopped_by_id = member.user_id
        camera.save(update_fields=["stopped_at", "stopped_by", "stopped_models"])
        edge_config_changed(device_ids=[camera.device_id])
    return camera


def camera_resume(*, member: Membership, camera_id: int, model: str | None = None) -> Camera:
    """Undo :func:`camera_stop` for the camera (``model`` None) or one model."""
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        camera = _for_update(camera_list(membership=member), camera_id, "camera")
        if model is None:
            camera.stopped_at = None
        elif model not in camera.stopped_models:
            raise InvalidInput.field("model", f"model {model!r} is not stopped on camera {camera.name!r}; "
                                              f"stopped: {camera.stopped_models}")
        else:
            camera.stopped_models = [m for m in camera.stopped_models if m != model]
        camera.save(update_fields=["stopped_at", "stopped_models"])
        edge_config_changed(device_ids=[camera.device_id])
    return camera


def device_update(*, member: Membership, device_id: int, **fields: Any) -> EdgeDevice:
    """Change a device. It may move to another site only when no camera of the old site uses it."""
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    with transaction.atomic():
        device = _for_update(device_list(membership=member), device_id, "device")
        site = fields.get("site", device.site)
        _check_site(member, site)
        if site.id != device.site_id:
            stranded = list(Camera.objects.filter(device=device).exclude(site=site).values_list("name", flat=True))
            if stranded:
                raise InvalidInput.field(
                    "site", f"device {device.name!r} still serves camera(s) {sorted(stranded)} at its current "
                            f"site; move or detach them first")
        edge_config_changed(device_ids=[device.id])
        return _save(device, fields)


def _for_update(qs: Any, obj_id: int, what: str) -> Any:
    obj = qs.select_for_update(of=("self",)).filter(id=obj_id).first()
    if obj is None:
        raise NotFound(f"{what} {obj_id} not found")
    return obj


def _save(obj: Any, fields: dict[str, Any]) -> Any:
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.save()
    return obj


def _check_site(member: Membership, site: Site) -> None:
    if not visibility(membership=member).sees(site_id=site.id):
        raise InvalidInput.field("site", f"site {site.id} not found")


def _check_camera(member: Membership, camera: Camera) -> None:
    if not visibility(membership=member).sees(site_id=camera.site_id, camera_id=camera.id):
        raise InvalidInput.field("camera", f"camera {camera.id} not found")


def camera_delete(*, member: Membership, camera_id: int) -> None:
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        camera = _for_update(camera_list(membership=member), camera_id, "camera")
        edge_config_changed(device_ids=[camera.device_id])
        audit_record(tenant_id=camera.tenant_id, action="camera.delete", actor=member, target=camera,
                     before=snapshot(camera, CAMERA_AUDIT))
        camera.delete()
        billing_cameras_changed(tenant_id=member.tenant_id)


def zone_create(*, member: Membership, **fields: Any) -> Zone:
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    _check_camera(member, fields["camera"])
    with transaction.atomic():
        edge_config_changed(device_ids=[fields["camera"].device_id])  # sent after the commit
        zone = Zone.objects.create(tenant_id=member.tenant_id, **fields)
        audit_record(tenant_id=zone.tenant_id, action="zone.create", actor=member, target=zone,
                     after=snapshot(zone, ZONE_AUDIT))
        return zone


def zone_update(*, member: Membership, zone_id: int, **fields: Any) -> Zone:
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    with transaction.atomic():
        zone = _for_update(zone_list(membership=member), zone_id, "zone")
        if "camera" in fields:
            _check_camera(member, fields["camera"])
        edge_config_changed(device_ids=[zone.camera.device_id, fields["camera"].device_id if "camera" in fields else None])
        before = snapshot(zone, ZONE_AUDIT)
        _save(zone, fields)
        audit_record(tenant_id=zone.tenant_id, action="zone.update", actor=member, target=zone, before=before,
                     after=snapshot(zone, ZONE_AUDIT))
        return zone


def zone_delete(*, member: Membership, zone_id: int) -> None:
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    with transaction.atomic():
        zone = _for_update(zone_list(membership=member), zone_id, "zone")
        edge_config_changed(device_ids=[zone.camera.device_id])
        audit_record(tenant_id=zone.tenant_id, action="zone.delete", actor=member, target=zone,
                     before=snapshot(zone, ZONE_AUDIT))
        zone.delete()


def shift_create(*, member: Membership, **fields: Any) -> Shift:
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    _check_site(member, fields["site"])
    with transaction.atomic():
        edge_config_changed(device_ids=EdgeDevice.objects.filter(site=fields["site"]).values_list("id", flat=True))
        return Shift.objects.create(tenant_id=member.tenant_id, **fields)


def shift_update(*, member: Membership, shift_id: int, **fields: Any) -> Shift:
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    with transaction.atomic():
        shift = _for_update(shift_list(membership=member), shift_id, "shift")
        if "site" in fields:
            _check_site(member, fields["site"])
        edge_config_changed(device_ids=EdgeDevice.objects.filter(
            site_id__in=[shift.site_id, fields["site"].id if "site" in fields else shift.site_id]).values_list("id", flat=True))
        return _save(shift, fields)


def shift_delete(*, member: Membership, shift_id: int) -> None:
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    with transaction.atomic():
        shift = _for_update(shift_list(membership=member), shift_id, "shift")
        edge_config_changed(device_ids=EdgeDevice.objects.filter(site_id=shift.site_id).values_list("id", flat=True))
        shift.delete()


def device_create(*, member: Membership, **fields: Any) -> EdgeDevice:
    require(member, Action.MANAGE_SITES)
    billing_require_writable(tenant_id=member.tenant_id)  # 402 once read-only (billing)
    _check_site(member, fields["site"])
    with transaction.atomic():
        device = EdgeDevice.objects.create(tenant_id=member.tenant_id, **fields)
        audit_record(tenant_id=device.tenant_id, action="device.create", actor=member, target=device,
                     after=snapshot(device, DEVICE_AUDIT))
    return device


def device_delete(*, member: Membership, device_id: int) -> None:
    """Delete a device; its cameras stay, without a device (the foreign key is SET_NULL)."""
    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        device = _for_update(device_list(membership=member), device_id, "device")
        audit_record(tenant_id=device.tenant_id, action="device.delete", actor=member, target=device,
                     before=snapshot(device, DEVICE_AUDIT))
        device.delete()


# --- edge devices: authentication on /ws/edge/, liveness (called by the edge consumer/ingest) ---

def device_authenticate(*, device_id: int, nonce: str, signature: str) -> EdgeDevice:
    """The device whose Ed25519 key signed ``challenge_bytes(nonce, device_id)``.

    This is the scope-resolution step of the edge link, so it reads ``unscoped_objects``; the
    caller enters ``tenant_scope(device.tenant_id)`` for everything after it. Raises
    ``NotAuthenticated`` (close 4401: unknown device, not enrolled, bad signature) or
    ``NotAllowed`` (close 4403: revoked or disabled). The signature is checked before the
    revocation, so an unauthenticated caller learns nothing about a device.
    """
    import base64
    import binascii

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from cameras.models import DeviceStatus
    from edge_agent.protocol import challenge_bytes
    from tenants.errors import NotAllowed, NotAuthenticated

    refused = NotAuthenticated("device authentication failed")
    device = EdgeDevice.unscoped_objects.filter(id=device_id).first()
    if device is None:
        raise refused
    if not device.public_key or device.enrolled_at is None:
        _audit_auth_refused(device, "not enrolled")
        raise refused
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(device.public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), challenge_bytes(nonce, device_id))
    except (InvalidSignature, ValueError, binascii.Error):
        _audit_auth_refused(device, "bad signature")
        raise refused from None
    if device.revoked_at is not None or device.status == DeviceStatus.DISABLED:
        _audit_auth_refused(device, "revoked or disabled")
        raise NotAllowed(f"device {device_id} is revoked or disabled")
    return device


def _audit_auth_refused(device: EdgeDevice, reason: str) -> None:
    """A refused handshake of a known device, in its tenant's log (an unknown id has no tenant)."""
    audit_record(tenant_id=device.tenant_id, action="device.auth_refused", actor=f"device:{device.pk}",
                 target=device, reason=reason)


def device_connected(*, device: EdgeDevice, agent_version: str) -> None:
    """A device completed the handshake: online now (one write per connection)."""
    from django.utils import timezone

    from cameras.models import DeviceStatus

    EdgeDevice.unscoped_objects.filter(id=device.id, tenant_id=device.tenant_id).exclude(
        status=DeviceStatus.DISABLED).update(status=DeviceStatus.ONLINE, last_seen_at=timezone.now(),
                                             agent_version=agent_version[:64])


def devices_mark_offline(*, tenant_id: int, window_s: float) -> int:
    """Mark the tenant's online devices that sent nothing for ``window_s`` seconds offline.

    Returns how many changed. Pending and disabled devices are left alone.
    """
    return len(devices_went_offline(tenant_id=tenant_id, window_s=window_s))


def devices_went_offline(*, tenant_id: int, window_s: float) -> list[int]:
    """:func:`devices_mark_offline`, returning the ids of the devices that changed (this call
    made them offline; a device already offline is not listed again, so callers can open one
    alert per id). The rows are locked, so a frame ingested meanwhile waits or wins."""
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    from cameras.models import DeviceStatus

    cutoff = timezone.now() - timedelta(seconds=window_s)
    silent = Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True)
    with transaction.atomic():
        ids = list(EdgeDevice.unscoped_objects.select_for_update()
                   .filter(silent, tenant_id=tenant_id, status=DeviceStatus.ONLINE).values_list("id", flat=True))
        if ids:
            EdgeDevice.unscoped_objects.filter(id__in=ids).update(status=DeviceStatus.OFFLINE)
    return ids


# --- edge devices: enrollment (one-time token -> public key) and revocation ---------------------

def _enrollment_token_hash(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


def device_install_command(secret: str) -> str:
    """The one line an installer runs on the box for an enrollment token (API and portal show it)."""
    base = shlex.quote(settings.PORTAL_BASE_URL.rstrip("/"))
    return f"curl -fsSL {base}/edge/install.sh | sudo sh -s -- --url {base} --token {shlex.quote(secret)}"


def device_enrollment_token_create(*, member: Membership, device_id: int) -> tuple[Any, str]:
    """A one-time enrollment token for a device: ``(EnrollmentToken, secret)``.

    Only the SHA-256 of ``secret`` is stored; the caller shows the secret once. The token lives
    ``EDGE_ENROLLMENT_TTL_S`` seconds (default 1 h); a new token ends the device's older unused ones.
    """
    import secrets
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from cameras.models import EnrollmentToken
    from tenants.errors import Conflict

    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        device = _for_update(device_list(membership=member), device_id, "device")
        if device.revoked_at is not None:
            raise Conflict(f"device {device.name!r} was revoked at {device.revoked_at.isoformat()}; "
                           f"create a new device to enroll a box again")
        now = timezone.now()
        EnrollmentToken.objects.filter(device=device, used_at=None, expires_at__gt=now).update(expires_at=now)
        # a fixed prefix: a urlsafe token may start with "-", which command lines (vad-edge enroll
        # --token, the install script) would read as an option
        secret = "vet_" + secrets.token_urlsafe(32)
        token = EnrollmentToken.objects.create(
            tenant_id=member.tenant_id, device=device, token_hash=_enrollment_token_hash(secret),
            created_by_id=member.user_id,
            expires_at=now + timedelta(seconds=int(getattr(settings, "EDGE_ENROLLMENT_TTL_S", 3600))))
        audit_record(tenant_id=device.tenant_id, action="device.enrollment_token", actor=member, target=device,
                     after={"expires_at": token.expires_at})
    return token, secret


def device_enroll(*, token: str, public_key: str, agent_version: str = "", hostname: str = "") -> EdgeDevice:
    """Register an edge box's Ed25519 public key with a one-time token; returns the device.

    Platform path (the caller has no tenant yet): the token is found by its hash with
    ``unscoped_objects``. Raises ``InvalidInput`` (bad token/key shape, 400), ``NotFound``
    (unknown, used or expired token, 404, the message says which) or ``NotAllowed`` (revoked
    device, 403). The token is consumed in the same transaction that stores the key.
    """
    import base64
    import binascii

    from django.utils import timezone

    from cameras.models import DeviceStatus, EnrollmentToken
    from tenants.errors import NotAllowed

    if not isinstance(token, str) or not 8 <= len(token) <= 200:
        raise InvalidInput.field("token", "token must be the enrollment token string from the install command")
    if not isinstance(public_key, str) or len(public_key) > 64:
        raise InvalidInput.field("public_key", "public_key must be the base64 of a raw 32-byte Ed25519 public key")
    try:
        raw = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidInput.field("public_key", f"public_key must be the base64 of a raw 32-byte Ed25519 public "
                                               f"key; got {len(raw)} bytes")
    for name, value in (("agent_version", agent_version), ("hostname", hostname)):
        if not isinstance(value, str) or len(value) > 255:
            raise InvalidInput.field(name, f"{name} must be a string of at most 255 characters")
    now = timezone.now()
    with transaction.atomic():
        row = (EnrollmentToken.unscoped_objects.select_for_update()
               .filter(token_hash=_enrollment_token_hash(token)).first())
        if row is None:
            raise NotFound("unknown enrollment token; create one for the device in the portal")
        if row.used_at is not None:
            raise NotFound(f"enrollment token already used at {row.used_at.isoformat()}; create a new one")
        if row.expires_at <= now:
            raise NotFound(f"enrollment token expired (or was replaced) at {row.expires_at.isoformat()}; "
                           f"create a new one")
        device = EdgeDevice.unscoped_objects.select_for_update().get(id=row.device_id, tenant_id=row.tenant_id)
        if device.revoked_at is not None:
            raise NotAllowed(f"device {device.id} was revoked; create a new device to enroll this box")
        # consume first, conditionally: of two concurrent uses one wins even where FOR UPDATE is a no-op (SQLite)
        if not EnrollmentToken.unscoped_objects.filter(id=row.id, used_at=None).update(used_at=now):
            raise NotFound("enrollment token already used; create a new one")
        device.public_key = base64.b64encode(raw).decode()
        device.enrolled_at = now
        device.agent_version = agent_version[:64]
        if device.status == DeviceStatus.PENDING:
            device.status = DeviceStatus.OFFLINE  # online once it connects to /ws/edge/
        device.save(update_fields=["public_key", "enrolled_at", "agent_version", "status"])
        audit_record(tenant_id=device.tenant_id, action="device.enroll", actor=f"device:{device.pk}", target=device,
                     after={"public_key": device.public_key, "agent_version": device.agent_version, "hostname": hostname[:255]})
    return device


def device_revoke(*, member: Membership, device_id: int) -> EdgeDevice:
    """Revoke a device for good: its key no longer connects (close 4403), its unused tokens end."""
    from django.utils import timezone

    from cameras.models import DeviceStatus, EnrollmentToken

    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        device = _for_update(device_list(membership=member), device_id, "device")
        before = snapshot(device, ("status", "revoked_at"))
        now = timezone.now()
        if device.revoked_at is None:
            device.revoked_at = now
        device.status = DeviceStatus.DISABLED
        device.save(update_fields=["revoked_at", "status"])
        EnrollmentToken.objects.filter(device=device, used_at=None, expires_at__gt=now).update(expires_at=now)
        audit_record(tenant_id=device.tenant_id, action="device.revoke", actor=member, target=device, before=before,
                     after=snapshot(device, ("status", "revoked_at")))
    return device


# --- edge devices: commands (reload, unload a model, destroy biometric templates) -------------------
def _command_args(*, device: EdgeDevice, action: str, args: Any) -> dict[str, Any]:
    from cameras.models import CommandAction

    if action not in CommandAction.values:
        raise InvalidInput.field("action", f"unknown action {action!r}; valid: {sorted(CommandAction.values)}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise InvalidInput.field("args", "args must be an object")
    if action != CommandAction.UNLOAD_MODEL:
        if args:
            raise InvalidInput.field("args", f"{action} takes no args; got {sorted(args)}")
        return {}
    if extra := sorted(set(args) - {"camera", "model"}):
        raise InvalidInput.field("args", f"unload_model takes 'camera' and 'model' only; unknown: {extra}")
    camera_id, model = args.get("camera"), args.get("model")
    if not isinstance(camera_id, int) or isinstance(camera_id, bool):
        raise InvalidInput.field("args", "unload_model needs 'camera': the id of one of the device's cameras")
    if not Camera.objects.filter(id=camera_id, device_id=device.id).exists():
        raise InvalidInput.field("args", f"camera {camera_id} is not one of device {device.id}'s cameras")
    if not isinstance(model, str) or not 1 <= len(model.strip()) <= 200:
        raise InvalidInput.field("args", "unload_model needs 'model': the model's name (1..200 characters)")
    return {"camera": camera_id, "model": model.strip()}


def device_command_message(command: Any) -> dict[str, Any]:
    """The wire form (edge_agent.protocol.Command) of a DeviceCommand row."""
    from edge_agent.protocol import Command

    args = command.args or {}
    camera = args.get("camera")
    return Command(command_id=str(command.pk), action=command.action, model=args.get("model"),
                   camera_id=str(camera) if camera is not None else None).model_dump(mode="json")


def device_command_send(*, member: Membership, device_id: int, action: str, args: Any = None) -> Any:
    """Record a command for the device and, after the commit, hand it to the device's open socket.

    Admins only. Another tenant's (or an invisible) device is ``NotFound``; a revoked or disabled
    device is ``Conflict``; an unknown action or bad args is ``InvalidInput``. A device that is not
    connected gets its pending commands right after its next ``welcome``.
    """
    from cameras.live import edge_command
    from cameras.models import DeviceCommand, DeviceStatus
    from tenants.errors import Conflict

    require(member, Action.MANAGE_SITES)
    with transaction.atomic():
        device = _for_update(device_list(membership=member), device_id, "device")
        if device.revoked_at is not None or device.status == DeviceStatus.DISABLED:
            raise Conflict(f"device {device.id} is revoked or disabled; it takes no commands")
        clean = _command_args(device=device, action=action, args=args)
        command = DeviceCommand.objects.create(tenant_id=member.tenant_id, device=device, action=action, args=clean,
                                               sent_by=member.user)
        from compliance.audit import audit_record

        audit_record(tenant_id=device.tenant_id, action="device.command", actor=member, target=device,
                     after={"command": command.pk, "action": action, "args": clean})
        edge_command(device_id=device.id, message=device_command_message(command))
    return command


def devices_destroy_biometric_templates(*, device_ids: list[int], actor: Membership, reason: str) -> list[Any]:
    """The policy no longer allows a biometric capability on these devices (a consent withdrawn, a
    tenant prohibition): each gets a ``destroy_biometric_templates`` command, recorded, audited and
    delivered like an admin's (now, or after its next welcome), and acknowledged by the agent's
    CommandResult. Called by the compliance services, which checked the actor's role; the config
    push that unloads the models goes out in the same commit."""
    from cameras.live import edge_command
    from cameras.models import CommandAction, DeviceCommand, DeviceStatus
    from compliance.audit import audit_record

    commands = []
    for device in EdgeDevice.objects.filter(id__in=device_ids, revoked_at=None).exclude(status=DeviceStatus.DISABLED):
        command = DeviceCommand.objects.create(tenant_id=device.tenant_id, device=device,
                                               action=CommandAction.DESTROY_BIOMETRIC_TEMPLATES, args={},
                                               sent_by=actor.user)
        audit_record(tenant_id=device.tenant_id, action="device.command", actor=actor, target=device,
                     after={"command": command.pk, "action": command.action, "reason": reason[:500]})
        edge_command(device_id=device.id, message=device_command_message(command))
        commands.append(command)
    return commands


def device_commands_pending(*, device_id: int, tenant_id: int) -> list[dict[str, Any]]:
    """The device's commands without a result, oldest first, as wire messages (the edge consumer
    sends them after ``welcome``); marks them delivered now."""
    from django.utils import timezone

    from cameras.models import CommandStatus, DeviceCommand
    from tenants.scope import tenant_scope

    with tenant_scope(tenant_id), transaction.atomic():
        rows = list(DeviceCommand.objects.filter(device_id=device_id, status=CommandStatus.PENDING).order_by("id")[:100])
        if rows:
            DeviceCommand.objects.filter(id__in=[r.id for r in rows]).update(delivered_at=timezone.now())
        return [device_command_message(r) for r in rows]


def device_command_finish(*, device: EdgeDevice, command_id: str, ok: bool, detail: str) -> bool:
    """The device answered ``command_id`` (a CommandResult, inside the ingest transaction and the
    device's tenant scope). True if a pending command of this device was finished."""
    from django.utils import timezone

    from cameras.models import CommandStatus, DeviceCommand

    if not (command_id.isascii() and command_id.isdigit() and len(command_id) < 19):
        return False
    status = CommandStatus.OK if ok else CommandStatus.ERROR
    done = DeviceCommand.objects.filter(id=int(command_id), device_id=device.id, status=CommandStatus.PENDING).update(
        status=status, result_message=detail[:2000], finished_at=timezone.now())
    if done:
        from compliance.audit import audit_record

        audit_record(tenant_id=device.tenant_id, action="device.command_result", actor=f"device:{device.pk}",
                     target=device, after={"command": int(command_id), "status": status, "detail": detail[:500]})
    return bool(done)
