"""Device-authenticated HTTP: every request an enrolled box makes to ``/edge/...`` is signed.

Scheme (version 1; the control plane's ``cameras.edge_auth`` checks it with this module's
:func:`canonical_request`, so there is one definition):

- The device signs, with its enrolled Ed25519 key (``device_key.pem``), the UTF-8 bytes of::

      vadcloud-edge-http-v1
      <METHOD, upper case>
      <path as sent, with ?query if any; "/" when empty>
      <device id>
      <timestamp: integer Unix seconds>
      <sha256 of the body, lower-case hex (of b"" for no body)>

  (lines joined by ``\\n``, no trailing newline).
- Headers: ``X-VAD-Device: <id>``, ``X-VAD-Timestamp: <seconds>``, ``X-VAD-Signature: <base64>``.
- The cloud refuses (401) a missing or malformed header, a timestamp more than 300 s away from
  its clock, a signature that does not verify with the device's public key (so a changed method,
  path, query or body is refused), and an unknown, never-enrolled, revoked or disabled device.

A captured request can be replayed inside the 300 s window; the requests signed this way are
reads (bundle downloads) and run over TLS in production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request
from http.client import HTTPResponse
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from edge_agent import __version__
from edge_agent.errors import EdgeError

if TYPE_CHECKING:
    from edge_agent.transport.device import Device

SIGNATURE_SCHEME = "vadcloud-edge-http-v1"
HEADER_DEVICE = "X-VAD-Device"
HEADER_TIMESTAMP = "X-VAD-Timestamp"
HEADER_SIGNATURE = "X-VAD-Signature"
MAX_SKEW_S = 300
TIMEOUT_S = 30.0


class EdgeHttpError(EdgeError):
    """A signed request failed: refused by the cloud (``status`` is the HTTP code) or unreachable
    (``status`` is None). ``detail`` is the cloud's message."""

    def __init__(self, url: str, status: int | None, detail: str) -> None:
        self.url = url
        self.status = status
        self.detail = detail
        where = f"HTTP {status}" if status is not None else "unreachable"
        super().__init__(f"{url}: {where}: {detail}")


def canonical_request(*, method: str, path: str, device_id: int, timestamp: int, body: bytes) -> bytes:
    """The bytes a device signs for one request (see the module docstring)."""
    lines = [SIGNATURE_SCHEME, method.upper(), path or "/", str(device_id), str(timestamp),
             hashlib.sha256(body).hexdigest()]
    return "\n".join(lines).encode()


def path_of(url: str) -> str:
    """``/edge/x?y=1`` of ``https://host/edge/x?y=1``: the path part that is signed."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def sign_headers(device: Device, method: str, url: str, body: bytes = b"", *,
                 now: float | None = None) -> dict[str, str]:
    """The three authentication headers for ``method url body`` signed by ``device``."""
    timestamp = int(time.time() if now is None else now)
    message = canonical_request(method=method, path=path_of(url), device_id=device.device_id,
                                timestamp=timestamp, body=body)
    return {HEADER_DEVICE: str(device.device_id), HEADER_TIMESTAMP: str(timestamp),
            HEADER_SIGNATURE: base64.b64encode(device.key.sign(message)).decode()}


def absolute_url(device: Device, url: str) -> str:
    """``url`` as is when absolute, else joined to the device's ``cloud_url``."""
    if urlsplit(url).scheme:
        return url
    if not device.cloud_url:
        raise EdgeHttpError(url, None, "device.json has no cloud_url to resolve a relative URL against; "
                                       "enroll this device again")
    return urljoin(device.cloud_url.rstrip("/") + "/", url)


def signed_request(device: Device, method: str, url: str, body: bytes = b"",
                   headers: dict[str, str] | None = None, timeout: float = TIMEOUT_S) -> HTTPResponse:
    """Send one signed request; returns the open response (use it as a context manager).

    ``url`` is absolute or relative to ``device.cloud_url``. Only http(s) URLs are sent. An HTTP
    error status or an unreachable cloud raises :class:`EdgeHttpError` with the cloud's message.
    """
    full = absolute_url(device, url)
    if urlsplit(full).scheme not in {"http", "https"}:
        raise EdgeHttpError(full, None, "only http:// and https:// URLs are allowed")
    all_headers = {"User-Agent": f"vad-edge/{__version__}", "Accept": "application/json, */*"}
    all_headers.update(headers or {})
    all_headers.update(sign_headers(device, method, full, body))
    request = urllib.request.Request(full, data=body or None, method=method.upper(), headers=all_headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s) checked above)
    except urllib.error.HTTPError as err:
        detail = _detail(err)
        err.close()
        raise EdgeHttpError(full, err.code, detail) from None
    except (urllib.error.URLError, OSError) as err:
        raise EdgeHttpError(full, None, str(getattr(err, "reason", err))) from None


def _detail(err: urllib.error.HTTPError) -> str:
    try:
        raw = err.read(4096)
    except OSError:
        return err.reason or "no detail"
    try:
        data = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:200] or str(err.reason)
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return json.dumps(data)[:200]


__all__ = ["HEADER_DEVICE", "HEADER_SIGNATURE", "HEADER_TIMESTAMP", "MAX_SKEW_S", "SIGNATURE_SCHEME",
           "EdgeHttpError", "canonical_request", "path_of", "sign_headers", "signed_request"]
