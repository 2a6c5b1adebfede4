"""Plain HTTP endpoints for edge boxes (no session, no tenant): enrollment and the installer.

- ``POST /edge/enroll``: JSON ``{token, public_key, agent_version, hostname}`` ->
  ``{device_id, cloud_url, ws_url, config_keys}`` (``cameras.services.device_enroll``).
- ``GET /edge/install.sh``: the installer, served verbatim from ``edge_agent/install.sh``.
- ``GET /edge/dist/``: plain text, one ``<sha256>  <wheel file name>`` line (``sha256sum`` format).
- ``GET /edge/dist/<wheel>``: the agent wheel built from ``edge_agent/`` (``cameras.edge_dist``).
- ``GET /edge/whoami``: device-signed (``cameras.edge_auth``) -> ``{device_id, name, site_id}``: the
  agent's check that its key is still accepted.
- ``GET /edge/devices/<id>/config``: device-signed -> the device's current signed config (the
  ``config`` message as JSON), for a config too large for one websocket frame (the socket sends a
  ``config_notice`` instead); another device's id is a 404 (``cameras.edgeconfig.config_push_fetch``).
- ``POST /edge/cameras/<id>/scene-image``: device-signed JPEG body, the camera's scene reference image
  (``cameras.scene_images``; only where the site allows it).

Errors are JSON ``{"detail": ...}`` (or field -> messages) with the status of ``tenants.errors``.
"""

from __future__ import annotations

import json
import logging
import subprocess
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from cameras import edge_auth, edge_dist, edgeconfig, scene_images, services
from tenants.errors import VadError

log = logging.getLogger(__name__)

MAX_ENROLL_BODY = 16 * 1024
ENROLL_FIELDS = {"token", "public_key", "agent_version", "hostname"}


def cloud_urls() -> tuple[str, str]:
    """``(cloud_url, ws_url)`` from ``PORTAL_BASE_URL``: http(s)://host:port and ws(s)://host:port/ws/edge/."""
    base = settings.PORTAL_BASE_URL.rstrip("/")
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return base, f"{scheme}://{parts.netloc}/ws/edge/"


def _config_keys() -> dict[str, str]:
    try:
        from cameras.edgeconfig import config_public_keys
    except ImportError as err:  # config signing not deployed: the device gets the keys with its first config
        log.warning("config signing keys unavailable at enrollment", extra={"error": str(err)})
        return {}
    return config_public_keys()


def _error(status: int, body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body, status=status)


@csrf_exempt  # no cookie or session is read: the one-time token is the credential
@require_POST
def enroll(request: HttpRequest) -> JsonResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, {"detail": "Content-Length must be a number of bytes"})
    if length > MAX_ENROLL_BODY:
        return _error(413, {"detail": f"enrollment body larger than {MAX_ENROLL_BODY} bytes"})
    try:
        data = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return _error(400, {"detail": "body must be JSON: {token, public_key, agent_version, hostname}"})
    if not isinstance(data, dict):
        return _error(400, {"detail": "body must be a JSON object: {token, public_key, agent_version, hostname}"})
    if unknown := sorted(set(data) - ENROLL_FIELDS):
        return _error(400, {"detail": f"unknown field(s) {unknown}; allowed: {sorted(ENROLL_FIELDS)}"})
    missing = [name for name in ("token", "public_key") if not data.get(name)]
    if missing:
        return _error(400, {name: ["this field is required"] for name in missing})
    try:
        device = services.device_enroll(token=data["token"], public_key=data["public_key"],
                                        agent_version=data.get("agent_version") or "",
                                        hostname=data.get("hostname") or "")
    except VadError as err:
        return _error(err.http_status, err.as_body())
    log.info("edge device enrolled", extra={"device_id": device.id, "tenant_id": device.tenant_id,
                                            "hostname": str(data.get("hostname") or "")[:255]})
    cloud_url, ws_url = cloud_urls()
    return JsonResponse({"device_id": device.id, "cloud_url": cloud_url, "ws_url": ws_url,
                         "config_keys": _config_keys()})


@require_GET
def install_script(request: HttpRequest) -> HttpResponse:
    script = (settings.BASE_DIR / "edge_agent" / "install.sh").read_bytes()
    response = HttpResponse(script, content_type="text/x-shellscript; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _wheel() -> edge_dist.Wheel | JsonResponse:
    try:
        return edge_dist.current_wheel()
    except (edge_dist.WheelBuildError, OSError, subprocess.SubprocessError) as err:
        log.error("edge agent wheel unavailable", exc_info=True)
        return _error(503, {"detail": f"the agent wheel could not be built on the server ({type(err).__name__}); "
                                      f"the operator can run `make edge-dist` to see why"})


@require_GET
def dist_index(request: HttpRequest) -> HttpResponse:
    wheel = _wheel()
    if isinstance(wheel, JsonResponse):
        return wheel
    return HttpResponse(f"{wheel.sha256}  {wheel.name}\n", content_type="text/plain; charset=utf-8")


@require_GET
def dist_file(request: HttpRequest, name: str) -> HttpResponse:
    wheel = _wheel()
    if isinstance(wheel, JsonResponse):
        return wheel
    if name != wheel.name:
        return _error(404, {"detail": f"no file {name!r}; available: [{wheel.name!r}] (see /edge/dist/)"})
    return FileResponse(wheel.path.open("rb"), as_attachment=True, filename=wheel.name,
                        content_type="application/octet-stream")


@require_GET
@edge_auth.device_view
def whoami(request: HttpRequest, device: Any) -> JsonResponse:
    return JsonResponse({"device_id": device.id, "name": device.name, "site_id": device.site_id})


@require_GET
@edge_auth.device_view
def device_config(request: HttpRequest, device: Any, device_id: int) -> HttpResponse:
    push = edgeconfig.config_push_fetch(device=device, device_id=device_id)
    log.info("edge.config_fetched", extra={"device_id": device.id, "config_version": push.version})
    response = HttpResponse(push.model_dump_json(), content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


@edge_auth.device_view
def _scene_image_store(request: HttpRequest, device: Any, camera_id: int) -> JsonResponse:
    camera = scene_images.camera_scene_image_store(device=device, camera_id=camera_id, data=request.body)
    return JsonResponse({"camera_id": camera.id, "scene_image_at": camera.scene_image_at.isoformat(),
                         "bytes": len(request.body)}, status=201)


@csrf_exempt  # the device signature is the credential (edge_auth.device_view)
@require_POST
def scene_image_upload(request: HttpRequest, camera_id: int) -> JsonResponse:
    """``POST /edge/cameras/<id>/scene-image``: the device's JPEG for one of its cameras
    (cameras.scene_images: 403 when the site does not allow it, 404 for another device's camera,
    413 above the size cap, 400 for a body that is not a JPEG)."""
    length = str(request.META.get("CONTENT_LENGTH") or "0")
    if not length.isdigit():
        return _error(400, {"detail": "Content-Length must be a number of bytes"})
    if int(length) > scene_images.MAX_SCENE_IMAGE_BYTES:
        return _error(413, {"detail": f"scene image larger than {scene_images.MAX_SCENE_IMAGE_BYTES} bytes"})
    return _scene_image_store(request, camera_id=camera_id)


urlpatterns = [
    path("enroll", enroll, name="edge-enroll"),
    path("whoami", whoami, name="edge-whoami"),
    path("devices/<int:device_id>/config", device_config, name="edge-device-config"),
    path("cameras/<int:camera_id>/scene-image", scene_image_upload, name="edge-scene-image"),
    path("install.sh", install_script, name="edge-install-script"),
    path("dist/", dist_index, name="edge-dist-index"),
    path("dist/<str:name>", dist_file, name="edge-dist-file"),
]
