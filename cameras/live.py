"""Live push to edge devices (a leaf module: imports no service, reads no model).

Group ``edge.device.<device id>``: the device's open ``/ws/edge/`` socket. The write services in
:mod:`cameras.services` call :func:`edge_config_changed` when a camera, zone, shift or device
changes; after the transaction commits, the group gets ``{"type": "edge.config", "device_id": id}``
and the edge consumer's ``edge_config`` handler builds, signs and sends the new
:class:`edge_agent.protocol.ConfigPush` (cameras.edgeconfig.config_sign). A rolled-back change
pushes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tenants.live import group_send_on_commit

logger = logging.getLogger(__name__)

EDGE_CONFIG_EVENT = "edge.config"


def device_group(device_id: int) -> str:
    return f"edge.device.{device_id}"


def edge_config_changed(*, device_ids: Iterable[int | None]) -> None:
    """After commit, tell each device's socket that its config changed (``None`` ids are skipped,
    so callers can pass ``camera.device_id`` as it is)."""
    for device_id in sorted({int(i) for i in device_ids if i is not None}):
        logger.info("edge.config_changed", extra={"device_id": device_id})
        group_send_on_commit(device_group(device_id), {"type": EDGE_CONFIG_EVENT, "device_id": device_id})


EDGE_SEND_EVENT = "edge.send"  # the edge consumer forwards ``message`` as it is


def edge_command(*, device_id: int, message: dict) -> None:
    """After commit, hand a command (an edge_agent.protocol.Command as a dict) to the device's
    open socket(s); nobody connected: the consumer sends pending commands after the next welcome."""
    logger.info("edge.command_sent", extra={"device_id": device_id, "command_id": message.get("command_id")})
    group_send_on_commit(device_group(device_id), {"type": EDGE_SEND_EVENT, "message": message})
