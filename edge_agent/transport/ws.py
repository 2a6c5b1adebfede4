"""Websocket client side of ``/ws/edge/`` (protocol v2): connect, answer the challenge, get the welcome.

``open_link(device, last_acked_seq)`` returns the open connection and the cloud's
:class:`~edge_agent.protocol.Welcome`; the cloud's fatal close codes raise :class:`FatalClose`.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from edge_agent import __version__
from edge_agent._compat import ws_connect as connect  # websockets 16 (Python 3.10) has no legacy=
from edge_agent.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_PROTOCOL,
    CLOSE_REVOKED,
    MAX_FRAME_BYTES,
    PROTOCOL_V2,
    Challenge,
    ErrorMessage,
    Hello,
    Welcome,
    parse_from_cloud,
)
from edge_agent.transport.device import Device
from edge_agent.transport.outbox import TransportError

log = logging.getLogger(__name__)

CAPABILITIES = ["batch", "event_update", "curve", "config", "config_fetch", "command"]
FATAL_CODES = {
    CLOSE_AUTH_FAILED: "the cloud refused this device's signature (4401): re-enroll it (vad-edge enroll --token ...)",
    CLOSE_REVOKED: "this device is revoked or disabled in the cloud (4403): ask an admin, then re-enroll",
    CLOSE_PROTOCOL: f"the cloud does not speak protocol v{PROTOCOL_V2} (4426): upgrade the agent (vad-edge {__version__})",
}


class FatalClose(TransportError):
    """The cloud closed with 4401 / 4403 / 4426: retrying soon will not help."""

    def __init__(self, code: int, reason: str) -> None:
        self.code, self.reason = code, reason
        super().__init__(f"{FATAL_CODES[code]}{f'; cloud said: {reason}' if reason else ''}")


def closed_error(err: ConnectionClosed) -> TransportError:
    """The right exception for a closed connection: :class:`FatalClose` for the fatal codes."""
    rcvd = err.rcvd
    if rcvd is not None and rcvd.code in FATAL_CODES:
        return FatalClose(rcvd.code, rcvd.reason)
    code = rcvd.code if rcvd is not None else None
    return TransportError(f"connection closed (code {code}{f', {rcvd.reason}' if rcvd and rcvd.reason else ''})")


def _recv(conn: ClientConnection, timeout_s: float, what: str) -> Any:
    try:
        text = conn.recv(timeout=timeout_s)
    except TimeoutError as err:
        raise TransportError(f"no {what} from the cloud within {timeout_s:g} s") from err
    except ConnectionClosed as err:
        raise closed_error(err) from err
    try:
        return parse_from_cloud(text)
    except ValidationError as err:
        raise TransportError(f"invalid {what} from the cloud: {err.errors()[0]['msg']}") from err


def open_link(device: Device, *, last_acked_seq: int = 0, open_timeout_s: float = 10.0,
              agent_version: str = __version__) -> tuple[ClientConnection, Welcome]:
    """Connect to ``device.ws_url`` and do the challenge / hello / welcome handshake."""
    try:
        conn = connect(device.ws_url, open_timeout=open_timeout_s, close_timeout=2, max_size=MAX_FRAME_BYTES,
                       user_agent_header=f"vad-edge/{agent_version}", legacy=True)
    except ConnectionClosed as err:
        raise closed_error(err) from err
    try:
        challenge = _recv(conn, open_timeout_s, "challenge")
        if not isinstance(challenge, Challenge):
            raise TransportError(f"expected a challenge first, got {challenge.type!r}")
        hello = Hello(device_id=device.device_id, agent_version=agent_version, capabilities=CAPABILITIES,
                      last_acked_seq=last_acked_seq, signature=device.sign_challenge(challenge.nonce))
        try:
            conn.send(hello.model_dump_json())
        except ConnectionClosed as err:
            raise closed_error(err) from err
        welcome = _recv(conn, open_timeout_s, "welcome")
        if isinstance(welcome, ErrorMessage):
            raise TransportError(f"the cloud refused the hello ({welcome.code}): {welcome.detail}")
        if not isinstance(welcome, Welcome):
            raise TransportError(f"expected a welcome, got {welcome.type!r}")
        if welcome.device_id != device.device_id:
            raise TransportError(f"the cloud welcomed device {welcome.device_id}, this is device {device.device_id}")
    except BaseException:
        conn.close()
        raise
    return conn, welcome
