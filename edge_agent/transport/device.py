"""The enrolled device as the cloud link sees it: ``<data_dir>/device.json`` and ``device_key.pem``.

The data directory is ``--data-dir``, else ``$VAD_EDGE_DATA_DIR``, else ``/var/lib/vadcloud-edge``
when writable, else ``~/.local/share/vadcloud-edge``. ``vad-edge enroll`` writes both files;
``vad-edge run`` reads them (and keeps its outbox there, ``outbox.sqlite3``).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.errors import EdgeError
from edge_agent.protocol import challenge_bytes

DEVICE_FILE = "device.json"
KEY_FILE = "device_key.pem"
SYSTEM_DATA_DIR = Path("/var/lib/vadcloud-edge")


class DeviceError(EdgeError):
    """device.json / device_key.pem missing or invalid (run ``vad-edge enroll``)."""


def default_data_dir() -> Path:
    env = os.environ.get("VAD_EDGE_DATA_DIR")
    if env:
        return Path(env)
    if SYSTEM_DATA_DIR.is_dir() and os.access(SYSTEM_DATA_DIR, os.W_OK):
        return SYSTEM_DATA_DIR
    if not SYSTEM_DATA_DIR.exists() and os.access(SYSTEM_DATA_DIR.parent, os.W_OK):
        return SYSTEM_DATA_DIR
    return Path.home() / ".local" / "share" / "vadcloud-edge"


@dataclass(frozen=True)
class Device:
    device_id: int
    cloud_url: str
    ws_url: str
    key: Ed25519PrivateKey = field(repr=False)
    config_keys: dict[str, str] = field(default_factory=dict)
    data_dir: Path = Path(".")

    def sign_challenge(self, nonce: str) -> str:
        return base64.b64encode(self.key.sign(challenge_bytes(nonce, self.device_id))).decode()

    @property
    def public_key_b64(self) -> str:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()


def is_enrolled(data_dir: Path) -> bool:
    return (data_dir / DEVICE_FILE).is_file()


def load_device(data_dir: Path | str) -> Device:
    d = Path(data_dir)
    path = d / DEVICE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DeviceError(f"{path} not found: enroll this device first (vad-edge enroll --token ...)") from err
    except (OSError, json.JSONDecodeError) as err:
        raise DeviceError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise DeviceError(f"{path}: expected a JSON object")
    device_id = data.get("device_id")
    if not isinstance(device_id, int) or isinstance(device_id, bool) or device_id < 1:
        raise DeviceError(f"{path}: device_id must be a positive integer, got {device_id!r}")
    ws_url = data.get("ws_url")
    if not isinstance(ws_url, str) or not ws_url.startswith(("ws://", "wss://")):
        raise DeviceError(f"{path}: ws_url must be a ws:// or wss:// URL, got {ws_url!r}")
    keys = data.get("config_keys") or {}
    if not isinstance(keys, dict):
        raise DeviceError(f"{path}: config_keys must be an object of key_id -> base64 public key")
    key_path = d / KEY_FILE
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as err:
        raise DeviceError(f"{key_path} not found: enroll this device again (vad-edge enroll --token ...)") from err
    except (OSError, ValueError, TypeError) as err:
        raise DeviceError(f"{key_path} is not a readable PKCS8 PEM private key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise DeviceError(f"{key_path} must hold an Ed25519 private key, got {type(key).__name__}")
    return Device(device_id=device_id, cloud_url=str(data.get("cloud_url", "")), ws_url=ws_url, key=key,
                  config_keys={str(k): str(v) for k, v in keys.items()}, data_dir=d)
