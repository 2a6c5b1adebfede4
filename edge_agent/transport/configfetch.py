"""Fetch the device's signed config over device-signed HTTP.

A signed config larger than one websocket frame (``MAX_FRAME_BYTES``) cannot be pushed: the cloud
sends a small ``config_notice`` instead and the agent fetches ``GET config_fetch_path(device_id)``
(:mod:`edge_agent.transport.http` signs it). The body is the same ``ConfigPush`` the socket would
have carried; it is verified by :class:`~edge_agent.signedconfig.ConfigStore` like a pushed one
(key id, signature, version, payload), so the HTTP hop adds no trust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from edge_agent.errors import EdgeError
from edge_agent.protocol import ConfigPush, config_fetch_path
from edge_agent.transport.http import EdgeHttpError, signed_request

if TYPE_CHECKING:
    from edge_agent.transport.device import Device

MAX_CONFIG_BYTES = 32 * 1024 * 1024  # a body past this is refused unread (16 cameras x 8 zones is ~136 KB)


class ConfigFetchFailed(EdgeError):
    """The config named by a ``config_notice`` could not be fetched. ``permanent``: the cloud
    refused the request (4xx), so retrying the same request will not help."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        self.detail = detail
        self.permanent = permanent
        super().__init__(f"config fetch failed: {detail}")


def fetch_config(device: Device, *, max_bytes: int = MAX_CONFIG_BYTES, timeout: float = 30.0) -> ConfigPush:
    """The device's current signed config from the cloud (not verified here: the caller's
    ``ConfigStore.apply`` does that). Raises :class:`ConfigFetchFailed`."""
    path = config_fetch_path(device.device_id)
    try:
        with signed_request(device, "GET", path, timeout=timeout) as resp:
            body = resp.read(max_bytes + 1)
    except EdgeHttpError as err:
        status = err.status
        raise ConfigFetchFailed(str(err), permanent=status is not None and 400 <= status < 500) from None
    except OSError as err:  # the connection broke while reading the body
        raise ConfigFetchFailed(f"{path}: {err}") from None
    if len(body) > max_bytes:
        raise ConfigFetchFailed(f"{path}: body larger than {max_bytes} bytes", permanent=True)
    try:
        return ConfigPush.model_validate_json(body)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ConfigFetchFailed(f"{path}: not a config message: {where}: {first['msg']}", permanent=True) from None


__all__ = ["MAX_CONFIG_BYTES", "ConfigFetchFailed", "fetch_config"]
