"""Device authentication for plain HTTP under ``/edge/`` (the websocket has its own handshake).

An enrolled box signs each request with its Ed25519 key; the scheme (canonical string, headers,
300 s clock window) is defined once, in ``edge_agent.transport.http``:

    X-VAD-Device: <device id>
    X-VAD-Timestamp: <integer Unix seconds>
    X-VAD-Signature: base64 Ed25519 signature of
        "vadcloud-edge-http-v1\\n<METHOD>\\n<path?query>\\n<device id>\\n<timestamp>\\n<sha256 hex of body>"

:func:`device_from_request` returns the :class:`EdgeDevice` or raises ``NotAuthenticated`` (401)
for a missing/malformed header, a timestamp outside the window, a bad signature (another key, or
a changed method, path, query or body), and an unknown, never-enrolled, revoked or disabled
device: one answer for all, so a caller without the key learns nothing about a device id.

Like ``cameras.services.device_authenticate`` this resolves the scope, so it reads
``EdgeDevice.unscoped_objects``; the caller enters ``tenant_scope(device.tenant_id)`` after it.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from cameras.models import DeviceStatus, EdgeDevice
from edge_agent.transport.http import HEADER_DEVICE, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_SKEW_S, canonical_request
from tenants.errors import NotAuthenticated, VadError
from tenants.scope import tenant_scope

MAX_SIGNED_BODY = 1024 * 1024  # the signed edge requests are small; a bundle comes down, never up


def _meta_name(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def _header(request: HttpRequest, header: str) -> str:
    value = request.META.get(_meta_name(header))
    if not value:
        raise NotAuthenticated(f"device authentication required: header {header} is missing "
                               f"(sign the request with the device key, see edge_agent.transport.http)")
    return str(value)


def device_from_request(request: HttpRequest, *, now: float | None = None) -> EdgeDevice:
    """The enrolled, active device that signed ``request``; ``NotAuthenticated`` otherwise."""
    raw_id = _header(request, HEADER_DEVICE)
    raw_ts = _header(request, HEADER_TIMESTAMP)
    raw_sig = _header(request, HEADER_SIGNATURE)
    if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 19):
        raise NotAuthenticated(f"{HEADER_DEVICE} must be the device id (digits), got {raw_id[:40]!r}")
    stripped = raw_ts.removeprefix("-")
    if not (stripped.isascii() and stripped.isdigit() and len(stripped) <= 12):
        raise NotAuthenticated(f"{HEADER_TIMESTAMP} must be integer Unix seconds, got {raw_ts[:40]!r}")
    timestamp = int(raw_ts)
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > MAX_SKEW_S:
        raise NotAuthenticated(f"{HEADER_TIMESTAMP} is {int(clock - timestamp)} s away from the server clock "
                               f"(at most {MAX_SKEW_S} s allowed); check the box's clock (NTP)")
    length = str(request.META.get("CONTENT_LENGTH") or "0")
    if length.isdigit() and int(length) > MAX_SIGNED_BODY:
        raise NotAuthenticated(f"signed request body larger than {MAX_SIGNED_BODY} bytes")
    refused = NotAuthenticated("device authentication failed")
    device_id = int(raw_id)
    device = EdgeDevice.unscoped_objects.filter(id=device_id).first()
    if device is None or not device.public_key or device.enrolled_at is None:
        raise refused
    message = canonical_request(method=request.method or "GET", path=request.get_full_path(),
                                device_id=device_id, timestamp=timestamp, body=request.body)
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(device.public_key, validate=True))
        key.verify(base64.b64decode(raw_sig, validate=True), message)
    except (InvalidSignature, ValueError, binascii.Error):
        raise refused from None
    if device.revoked_at is not None or device.status == DeviceStatus.DISABLED:
        raise refused
    return device


def error_response(err: VadError) -> JsonResponse:
    response = JsonResponse(err.as_body(), status=err.http_status)
    if err.http_status == 401:
        response["WWW-Authenticate"] = 'VAD-Device realm="edge"'
    return response


def device_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorator for ``/edge/`` views: ``view(request, device, **kwargs)`` runs in the device's
    tenant scope; any ``VadError`` it raises (or the authentication's) becomes its JSON answer.
    CSRF-exempt: no cookie or session is read, the device signature is the credential."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            device = device_from_request(request)
            with tenant_scope(device.tenant_id):
                return view(request, device, *args, **kwargs)
        except VadError as err:
            return error_response(err)

    return wrapper


__all__ = ["device_from_request", "device_view", "error_response"]
