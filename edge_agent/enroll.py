"""``vad-edge enroll``: register this box with the cloud using a one-time enrollment token.

Generates an Ed25519 key pair, POSTs the public key with the token to ``<url>/edge/enroll`` and
writes into the data directory:

- ``device.json``: ``{"device_id", "cloud_url", "ws_url", "config_keys"}``
- ``device_key.pem``: the PKCS8 PEM private key, mode 0600 (it never leaves the box)

The data directory is ``--data-dir``, else ``$VAD_EDGE_DATA_DIR``, else ``/var/lib/vadcloud-edge``
when writable, else ``~/.local/share/vadcloud-edge``; ``edge_agent.transport.device`` reads
the files back (``load_device``) and owns that rule (``default_data_dir``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge_agent import __version__
from edge_agent.errors import EdgeError
from edge_agent.transport.device import DEVICE_FILE, KEY_FILE, default_data_dir

TIMEOUT_S = 30.0


class EnrollError(EdgeError):
    """Enrollment failed: refused by the server, unreachable URL, or an existing enrollment."""


def normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise EnrollError(f"--url must be the portal address like https://portal.example.com, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              "User-Agent": f"vad-edge/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (http(s) only)
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise EnrollError(f"the server refused the enrollment (HTTP {err.code}): {_server_message(err)}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise EnrollError(f"cannot reach {url}: {reason}") from None
    except ValueError:
        raise EnrollError(f"{url} did not answer JSON; is --url the VADCloud portal?") from None


def _server_message(err: urllib.error.HTTPError) -> str:
    raw = err.read()[:4000]
    try:
        body = json.loads(raw)
    except ValueError:
        text = " ".join(raw.decode(errors="replace").split())[:200]
        return f"{err.reason} (not a VADCloud answer: is --url the portal? {text})" if text else str(err.reason)
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    if isinstance(body, dict):
        return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in body.items())
    return str(body)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def enroll(*, url: str, token: str, data_dir: Path | None = None, force: bool = False,
           hostname: str | None = None) -> dict[str, Any]:
    """Enroll this box; returns what was written (device id, cloud and websocket URLs, files)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    base = normalise_url(url)
    if not token.strip():
        raise EnrollError("--token is empty; copy the token from the portal's install command")
    data_dir = data_dir or default_data_dir()
    device_file, key_file = data_dir / DEVICE_FILE, data_dir / KEY_FILE
    if device_file.exists() and not force:
        try:
            existing = json.loads(device_file.read_text()).get("device_id")
        except (OSError, ValueError, AttributeError):
            existing = "?"
        raise EnrollError(f"{device_file} exists (device {existing}): this box is already enrolled; "
                          f"pass --force to enroll it again with a new key")
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise EnrollError(f"cannot create data dir {data_dir}: {err.strerror}; choose another with --data-dir") from None
    if not os.access(data_dir, os.W_OK):
        raise EnrollError(f"data dir {data_dir} is not writable; run as its owner or choose another with --data-dir")

    key = Ed25519PrivateKey.generate()
    public_b64 = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    answer = _post_json(f"{base}/edge/enroll", {"token": token.strip(), "public_key": public_b64,
                                                "agent_version": __version__,
                                                "hostname": hostname if hostname is not None else socket.gethostname()})
    try:
        device = {"device_id": int(answer["device_id"]), "cloud_url": str(answer["cloud_url"]),
                  "ws_url": str(answer["ws_url"]), "config_keys": dict(answer.get("config_keys") or {})}
    except (KeyError, TypeError, ValueError):
        raise EnrollError(f"unexpected answer from {base}/edge/enroll: {str(answer)[:300]}") from None
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    _write_private(key_file, pem)  # the key first: device.json marks a complete enrollment
    _write_private(device_file, (json.dumps(device, indent=2) + "\n").encode())
    return {**device, "data_dir": str(data_dir), "device_file": str(device_file), "key_file": str(key_file)}
