"""Portal pages for cameras (list, settings, shifts, zone/mask editor) and edge devices.

Thin, like the API views: reads go through cameras.selectors (the member's visible sites and
cameras), writes through cameras.services, and input is checked by the API's own serializers, so
the portal and /api/v1/ accept and refuse the same things. Another tenant's object is a 404; a
service error (tenants.errors) becomes a message on the page with its status, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cameras import selectors, services
from cameras.api.serializers import (
    CameraSerializer,
    DeviceSerializer,
    ShiftSerializer,
    ZoneSerializer,
    camera_health,
)
from cameras.crypto import redact_url
from cameras.models import CameraContext, CommandAction, SceneClass, ZoneKind
from tenants.errors import InvalidInput, VadError
from tenants.models import Membership
from tenants.roles import Action, role_allows
from tenants.selectors import site_list

SETTINGS_FIELDS = ("name", "stream_url", "scene_class", "context")
WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


def _member(request: HttpRequest) -> Membership:
    membership = getattr(request, "membership", None)
    if membership is None:
        raise Http404("you are not a member of any tenant")
    return membership


def _can_manage(member: Membership) -> bool:
    return role_allows(member.role, Action.MANAGE_SITES)


def _errors(detail: Any) -> dict[str, list[str]]:
    """Field -> messages, from a serializer's errors or a VadError body."""
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    return {"detail": [str(detail)]}


def _camera_or_404(member: Membership, camera_id: int) -> Any:
    camera = selectors.camera_list(membership=member).filter(id=camera_id).first()
    if camera is None:
        raise Http404(f"camera {camera_id} not found")
    return camera


def _device_or_404(member: Membership, device_id: int) -> Any:
    device = selectors.device_list(membership=member).select_related("site").filter(id=device_id).first()
    if device is None:
        raise Http404(f"device {device_id} not found")
    return device


# --- cameras --------------------------------------------------------------------------------

@login_required
def camera_list_page(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    rows = [{"camera": c, "health": camera_health(c.device, str(c.id)) if c.device_id else None}
            for c in selectors.camera_list(membership=member)]
    return render(request, "frontend/cameras/list.html", {"rows": rows})


def _camera_context(member: Membership, camera: Any) -> dict[str, Any]:
    from detection.models import CameraBundle

    bundle = CameraBundle.objects.filter(camera_id=camera.id).select_related("artifact").first()
    return {
        "camera": camera,
        "stream_url_redacted": redact_url(camera.stream_url or ""),
        "health": camera_health(camera.device, str(camera.id)) if camera.device_id else None,
        "shifts": [{"shift": s, "days": "every day" if sorted(s.weekdays) == list(WEEKDAYS) else
                    ", ".join(WEEKDAYS.get(int(d), str(d)) for d in sorted(s.weekdays))}
                   for s in selectors.shift_list(membership=member).filter(site_id=camera.site_id)],
        "model_names": services.camera_model_names(camera),
        "bundle": bundle.artifact if bundle is not None else None,
        "zone_count": selectors.zone_list(membership=member).filter(camera_id=camera.id).count(),
        "scene_classes": SceneClass.choices,
        "contexts": CameraContext.choices,
        "can_manage": _can_manage(member),
    }


@login_required
@require_http_methods(["GET", "POST"])
def camera_detail_page(request: HttpRequest, camera_id: int) -> HttpResponse:
    """Settings (admins edit through cameras.services.camera_update) and the site's shifts with
    their sensitivity (cameras.services.shift_update)."""
    member = _member(request)
    camera = _camera_or_404(member, camera_id)
    if request.method == "GET":
        return render(request, "frontend/cameras/detail.html", _camera_context(member, camera))
    action = request.POST.get("action", "")
    errors: dict[str, list[str]] = {}
    target = ""
    try:
        if action == "settings":
            target = "settings"
            data = {k: request.POST[k] for k in SETTINGS_FIELDS if k in request.POST}
            if not data.get("stream_url"):
                data.pop("stream_url", None)  # blank: keep the stored URL (never shown back)
            body = CameraSerializer(camera, data=data, partial=True)
            if not body.is_valid():
                raise InvalidInput(_errors(body.errors))
            services.camera_update(member=member, camera_id=camera.id, **body.validated_data)
            notice = "Camera settings saved; the device gets the new config."
        elif action == "shift":
            shift_id = request.POST.get("shift", "")
            target = f"shift-{shift_id}"
            shift = selectors.shift_list(membership=member).filter(
                id=int(shift_id) if shift_id.isdigit() else 0, site_id=camera.site_id).first()
            if shift is None:
                raise Http404(f"shift {shift_id!r} not found")
            body = ShiftSerializer(shift, data={"sensitivity": request.POST.get("sensitivity", "")}, partial=True)
            if not body.is_valid():
                raise InvalidInput(_errors(body.errors))
            services.shift_update(member=member, shift_id=shift.id, **body.validated_data)
            notice = f"Sensitivity of shift {shift.name!r} saved."
        else:
            raise InvalidInput.field("action", f"unknown action {action!r}; valid: ['settings', 'shift']")
    except VadError as err:
        errors = _errors(err.as_body())
        context = _camera_context(member, _camera_or_404(member, camera_id))
        context.update(errors=errors, error_target=target, posted=request.POST)
        return render(request, "frontend/cameras/detail.html", context, status=err.http_status)
    messages.success(request, notice)
    return redirect("portal-camera-detail", camera_id=camera.id)


@login_required
def camera_zones_page(request: HttpRequest, camera_id: int) -> HttpResponse:
    """The zone / mask editor: the page carries the data; zones.js draws and saves through /api/v1/zones/."""
    member = _member(request)
    camera = _camera_or_404(member, camera_id)
    zones = ZoneSerializer(selectors.zone_list(membership=member).filter(camera_id=camera.id), many=True).data
    editor = {
        "camera": camera.id,
        "zones": zones,
        "kinds": [{"value": v, "label": label} for v, label in ZoneKind.choices],
        "zones_url": reverse("zone-list"),
        "scene_image_url": reverse("camera-scene_image", args=[camera.id]) if camera.scene_image else None,
        "can_edit": _can_manage(member),
        "width": camera.width,
        "height": camera.height,
    }
    return render(request, "frontend/cameras/zones.html", {
        "camera": camera, "editor": editor, "can_manage": _can_manage(member),
        "scene_images_allowed": camera.site.scene_images_allowed,
        "scene_request_url": reverse("camera-scene_image_request", args=[camera.id]),
    })


# --- devices --------------------------------------------------------------------------------

def _device_row(device: Any) -> dict[str, Any]:
    data = DeviceSerializer(device).data
    return {"device": device, "online": data["online"], "last_heartbeat_at": data["last_heartbeat_at"],
            "outbox_depth": data["outbox_depth"], "dead_letters": data["dead_letters"],
            "config_version_applied": data["config_version_applied"], "cameras": data["cameras"]}


@login_required
@require_http_methods(["GET", "POST"])
def device_list_page(request: HttpRequest) -> HttpResponse:
    """Devices with their last heartbeat; admins create one (then get its enrollment token)."""
    member = _member(request)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            body = DeviceSerializer(data={"site": request.POST.get("site", ""), "name": request.POST.get("name", "")})
            if not body.is_valid():
                raise InvalidInput(_errors(body.errors))
            device = services.device_create(member=member, **body.validated_data)
        except VadError as err:
            errors, status = _errors(err.as_body()), err.http_status
        else:
            messages.success(request, f"Device {device.name!r} created. Get its enrollment token "
                                      f"to install the agent on the box.")
            return redirect("portal-device-detail", device_id=device.id)
    rows = [_device_row(d) for d in selectors.device_list(membership=member).select_related("site")]
    return render(request, "frontend/cameras/devices.html", {
        "rows": rows, "sites": site_list(membership=member), "can_manage": _can_manage(member),
        "errors": errors, "posted": request.POST}, status=status)


def _device_context(member: Membership, device: Any) -> dict[str, Any]:
    cameras = selectors.camera_list(membership=member).filter(device_id=device.id)
    row = _device_row(device)
    health = {c["camera_id"]: c for c in row["cameras"]}
    return {
        **row,
        "camera_rows": [{"camera": c, "health": health.get(str(c.id))} for c in cameras],
        "commands": selectors.device_command_list(membership=member, device_id=device.id)[:50],
        "actions": CommandAction.choices,
        "can_manage": _can_manage(member),
    }


@login_required
@never_cache  # the answer to "get enrollment token" carries the secret
@require_http_methods(["GET", "POST"])
def device_detail_page(request: HttpRequest, device_id: int) -> HttpResponse:
    """Health per camera, enrollment token + install command (shown once), revoke, commands."""
    member = _member(request)
    device = _device_or_404(member, device_id)
    if request.method == "GET":
        return render(request, "frontend/cameras/device.html", _device_context(member, device))
    action = request.POST.get("action", "")
    extra: dict[str, Any] = {}
    try:
        if action == "enrollment":
            token, secret = services.device_enrollment_token_create(member=member, device_id=device.id)
            extra = {"enrollment": {"token": secret, "expires_at": token.expires_at,
                                    "install_command": services.device_install_command(secret)}}
        elif action == "revoke":
            services.device_revoke(member=member, device_id=device.id)
            extra = {"notice": f"Device {device.name!r} revoked: its key no longer connects."}
        elif action == "command":
            args: dict[str, Any] = {}
            if request.POST.get("command") == CommandAction.UNLOAD_MODEL:
                camera = request.POST.get("camera", "")
                args = {"camera": int(camera) if camera.isdigit() else camera, "model": request.POST.get("model", "")}
            command = services.device_command_send(member=member, device_id=device.id,
                                                   action=request.POST.get("command", ""), args=args)
            extra = {"notice": f"Command {command.action} sent; its result shows below when the device answers."}
        else:
            raise InvalidInput.field("action", f"unknown action {action!r}; valid: ['command', 'enrollment', 'revoke']")
    except VadError as err:
        context = _device_context(member, _device_or_404(member, device_id))
        context.update(errors=_errors(err.as_body()), error_target=action, posted=request.POST)
        return render(request, "frontend/cameras/device.html", context, status=err.http_status)
    if "enrollment" not in extra:  # post/redirect/get: a reload does not send it again
        messages.success(request, extra["notice"])
        return redirect("portal-device-detail", device_id=device.id)
    context = _device_context(member, _device_or_404(member, device_id))
    context.update(extra)
    return render(request, "frontend/cameras/device.html", context)
