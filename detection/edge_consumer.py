"""``/ws/edge/``: the edge agent's link (device-authenticated, no session). Thin: parse -> service -> reply.

Handshake: on connect the cloud sends ``challenge`` (32 random bytes, base64). The first frame
must be a ``hello`` within ``EDGE_HELLO_TIMEOUT_S`` (10 s) whose Ed25519 signature over
``challenge_bytes(nonce, device_id)`` verifies with the device's enrolled public key
(``cameras.services.device_authenticate``). Then ``welcome`` carries ``last_seq`` (the highest seq
committed for the device) and ``config_version``.

Close codes (only these; never 1011):

- 4401 ``CLOSE_AUTH_FAILED``: unknown device, not enrolled, bad signature, or no hello in time
- 4403 ``CLOSE_REVOKED``: the device is revoked or disabled (at hello, or later on any frame)
- 4426 ``CLOSE_PROTOCOL``: the first frame was not a valid hello of protocol version 2

After the handshake each frame (one message or one ``batch``) is one call to
``detection.ingest.edge_ingest`` (one transaction); the ``ack`` is sent after it committed. A bad
frame is answered with an ``error`` naming the field, and, when the frame had a readable integer
``seq``, an ``ack`` with that seq ``rejected`` so the agent dead-letters it; the socket stays open.
A batch with some bad messages still commits its good ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic import TypeAdapter, ValidationError

from cameras import services as camera_services
from cameras.edgeconfig import config_push_for_device
from detection import health, ingest, ingest_writer
from detection.live import edge_device_group
from edge_agent.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_PROTOCOL,
    CLOSE_REVOKED,
    MAX_BATCH,
    MAX_FRAME_BYTES,
    PROTOCOL_V2,
    Ack,
    Batch,
    Challenge,
    ConfigNotice,
    EdgeMessage,
    ErrorMessage,
    FromEdge,
    Hello,
    Welcome,
    parse_from_edge,
)
from tenants.errors import NotAllowed, NotAuthenticated
from vadcloud.jsonlimits import JsonLimitError, parse_json_limited

logger = logging.getLogger(__name__)

_ONE_MESSAGE: TypeAdapter[Any] = TypeAdapter(EdgeMessage)
_FRAME: TypeAdapter[Any] = TypeAdapter(FromEdge)

# The shape of a frame's bytes for ``_may_be_refused``: digits -> "0", "E" -> "e", "-" -> "+".
_SHAPE = bytes.maketrans(b"123456789E-", b"000000000e+")
_LONG_NUMBER = b"0" * 200


def _may_be_refused(raw: bytes) -> bool:
    """True if the frame may hold what ``parse_json_limited`` refuses but pydantic's JSON parser
    takes: a NaN / Infinity constant, a number whose exponent has 3 or more digits (it may
    overflow to inf), or 200 digits in a row (a float of up to 199 integer digits and a 2-digit
    exponent stays below 1e308; this also covers Python's 4300-digit int limit). Over-cautious
    (such text inside a string counts too) except for exponent-like runs that are not a number
    token, i.e. not after ``:`` ``,`` or ``[`` (``3e456`` in a hex event id). Byte scans only (a
    regular expression over a 40 kB frame cost 7 us per event; these about 1.5)."""
    if b"NaN" in raw or b"Infinity" in raw:
        return True
    shape = raw.translate(_SHAPE)
    if _LONG_NUMBER in shape:
        return True
    for exponent in (b"e000", b"e+000"):
        at = shape.find(exponent)
        while at != -1:
            i = at - 1
            while i >= 0 and shape[i] in b"0.+":  # the mantissa
                i -= 1
            while i >= 0 and shape[i] in b" \t\r\n":
                i -= 1
            if i < 0 or shape[i] in b":,[":  # a number token (or a string that looks like one)
                return True
            at = shape.find(exponent, at + 1)
    return False


MAX_FRAMES_IN_FLIGHT = 64  # frames of one connection awaiting their commit before reading waits


def hello_timeout_s() -> float:
    return float(getattr(settings, "EDGE_HELLO_TIMEOUT_S", 10.0))


def _field(err: ValidationError) -> tuple[str, str]:
    """The first error's location (pydantic ``loc`` joined by dots) and a readable detail."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "message"
    return loc, f"{loc}: {first['msg']}"


def parse_valid_frame(text: str) -> Any | None:
    """The frame's message (a ``Batch``, one edge message or a ``Hello``) when the whole frame is
    valid, parsed and validated in one pass by pydantic's JSON parser; None when it is not (or may
    not be), and the caller takes the exact path: ``parse_json_limited`` then per-message
    validation, which names the bad message and field and still takes the good ones.

    Most frames are valid, and the exact path's limited JSON parse cost about three times the
    validation itself (42 us per event of a 100-event batch). What a frame passing here may hold is
    what the exact path would accept, to the value: frames over ``MAX_FRAME_BYTES`` and the
    constants and out-of-range numbers the limited parser refuses never reach pydantic here
    (``_may_be_refused``), and the schema nests at most 8 levels deep (batch, message, models,
    evidence, where), below ``MAX_DEPTH``. tests/detection/test_edge_frame_parse.py compares the
    two paths."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_FRAME_BYTES:
        return None  # the exact path answers 4413
    if _may_be_refused(raw):
        return None
    try:
        return _FRAME.validate_json(raw)  # a lone surrogate is not UTF-8: refused here, named there
    except ValidationError:
        return None


def _raw_seq(raw: Any) -> int | None:
    seq = raw.get("seq") if isinstance(raw, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= 2**63 - 1 else None


class EdgeConsumer(AsyncWebsocketConsumer):
    device_id: int | None = None
    tenant_id: int | None = None

    async def connect(self) -> None:
        self.nonce = base64.b64encode(secrets.token_bytes(32)).decode()
        self.device_id = None
        self.capabilities: frozenset[str] = frozenset()
        self.closed = False
        self.in_flight: asyncio.Queue | None = None
        self.ack_pump: asyncio.Future | None = None
        await self.accept()
        await self._send(Challenge(nonce=self.nonce, server_time=time.time()))
        self.hello_timer = asyncio.get_running_loop().call_later(
            hello_timeout_s(), lambda: asyncio.ensure_future(self._hello_timeout()))

    async def _hello_timeout(self) -> None:
        if self.device_id is None and not self.closed:
            await self._close(CLOSE_AUTH_FAILED)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        timer = getattr(self, "hello_timer", None)
        if timer is not None:
            timer.cancel()
        pump = getattr(self, "ack_pump", None)
        if pump is not None:  # frames already handed to the writer are still committed; the agent
            pump.cancel()     # replays what was not acked and the cloud answers "duplicate"
        if self.device_id is not None and self.tenant_id is not None:
            await self.channel_layer.group_discard(edge_device_group(self.device_id), self.channel_name)
            try:
                await database_sync_to_async(ingest.edge_flush_heartbeat)(device_id=self.device_id,
                                                                          tenant_id=self.tenant_id)
            except Exception:
                logger.exception("edge.heartbeat_flush_failed", extra={"device_id": self.device_id})

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message ``aclose_old_connections()``: that is a hop to
        the process's one shared database thread before *every* frame, which caps a process at a
        few thousand frames per second and makes every connection wait behind the others. This
        consumer touches the database only through ``database_sync_to_async`` (which closes stale
        connections around each call) and the ingest writer (which does the same on its thread)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def _send(self, msg: Any) -> None:
        await self.send(text_data=msg.model_dump_json())

    async def _close(self, code: int) -> None:
        self.closed = True
        await self.close(code=code)

    async def _error(self, code: int, detail: str, field: str | None = None, seq: int | None = None) -> None:
        await self._send(ErrorMessage(code=code, detail=detail[:2000], field=field, seq=seq))

    # --- frames ---------------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed:
            return
        try:
            await self._frame(text_data, bytes_data)
        except Exception as err:  # noqa: BLE001 - the edge of the handler: answered by _failed
            await self._failed(err)

    async def _failed(self, err: Exception) -> None:
        """A frame failed: revoked -> close 4403, no longer authenticated -> close 4401, anything
        else is logged and answered with an error; the socket stays open."""
        if isinstance(err, NotAllowed):
            await self._close(CLOSE_REVOKED)
        elif isinstance(err, NotAuthenticated):
            await self._close(CLOSE_AUTH_FAILED)
        else:
            logger.error("edge.frame_failed", extra={"device_id": self.device_id}, exc_info=err)
            await self._error(4400, "the server could not process this frame; it was not applied, send it again")

    async def _frame(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if text_data is None:
            if self.device_id is None:
                await self._close(CLOSE_PROTOCOL)
                return
            await self._error(4400, "send JSON text frames, not binary")
            return
        if len(text_data) > MAX_FRAME_BYTES:  # characters >= bytes/4: a cheap first cut
            if self.device_id is None:
                await self._close(CLOSE_PROTOCOL)
                return
            await self._error(4413, f"frame is larger than {MAX_FRAME_BYTES} bytes")
            return
        if self.device_id is not None:
            msg = parse_valid_frame(text_data)
            if isinstance(msg, Batch) and all(m.seq is not None for m in msg.messages):
                await self._ingest(list(msg.messages), [])
                return
            if msg is not None and not isinstance(msg, Batch | Hello) and msg.seq is not None:
                await self._ingest([msg], [])
                return
        try:
            raw = parse_json_limited(text_data, max_bytes=MAX_FRAME_BYTES)
        except JsonLimitError as err:
            if self.device_id is None:
                await self._close(CLOSE_PROTOCOL)
                return
            await self._error(4413 if "bytes" in str(err) and "larger" in str(err) else 4400, str(err))
            return
        if self.device_id is None:
            await self._hello(raw)
            return
        if isinstance(raw, dict) and raw.get("type") == "batch" and isinstance(raw.get("messages"), list):
            await self._batch(raw)
            return
        try:
            msg = parse_from_edge(raw)
        except ValidationError as err:
            loc, detail = _field(err)
            await self._refuse(detail, loc, _raw_seq(raw))
            return
        if isinstance(msg, Hello):
            await self._error(4400, "hello was already accepted on this connection", field="type")
            return
        if msg.seq is None:
            await self._error(4400, "seq: a message needs its outbox seq", field="seq")
            return
        await self._ingest([msg], [])

    async def _refuse(self, detail: str, field: str, seq: int | None) -> None:
        await self._error(4400, detail, field=field, seq=seq)
        if seq is not None:
            await self._ingest([], [(seq, detail)])

    async def _batch(self, raw: dict[str, Any]) -> None:
        items = raw["messages"]
        extra = sorted(set(raw) - {"v", "type", "messages"})
        if raw.get("v", PROTOCOL_V2) != PROTOCOL_V2 or extra or not 1 <= len(items) <= MAX_BATCH:
            try:
                Batch.model_validate(raw)
            except ValidationError as err:
                loc, detail = _field(err)
                await self._error(4400, detail, field=loc)
                return
        good: list[Any] = []
        bad: list[tuple[int, str]] = []
        for index, item in enumerate(items):
            try:
                msg = _ONE_MESSAGE.validate_python(item)
            except ValidationError as err:
                loc, detail = _field(err)
                seq = _raw_seq(item)
                await self._error(4400, f"messages.{index}.{detail}", field=f"messages.{index}.{loc}", seq=seq)
                if seq is not None:
                    bad.append((seq, detail))
                continue
            if msg.seq is None:
                await self._error(4400, f"messages.{index}.seq: a message needs its outbox seq",
                                  field=f"messages.{index}.seq")
                continue
            good.append(msg)
        if good or bad:
            await self._ingest(good, bad)

    async def _ingest(self, messages: list[Any], rejected: list[tuple[int, str]]) -> None:
        """Hand the frame to the group-commit writer and go on reading: up to
        MAX_FRAMES_IN_FLIGHT frames of this connection are in flight at once (then reading waits),
        so frames of many connections share commits (detection/ingest_writer.py). The acks go out
        in frame order, each after the commit that holds its frame."""
        assert self.device_id is not None and self.tenant_id is not None
        if self.in_flight is None:
            self.in_flight = asyncio.Queue(maxsize=MAX_FRAMES_IN_FLIGHT)
            self.ack_pump = asyncio.ensure_future(self._ack_pump(self.in_flight))
        job = ingest_writer.writer.enqueue(device_id=self.device_id, tenant_id=self.tenant_id, messages=messages,
                                           rejected=rejected)
        await self.in_flight.put(job)

    async def _ack_pump(self, in_flight: asyncio.Queue) -> None:
        """Send each frame's ack, in frame order, once its commit is done. Frames whose commits are
        already done when an ack leaves (one group commit usually holds several frames of a
        connection) go in the same ``ack``: ``seq`` is cumulative and ``results`` lists every
        message, up to ``MAX_BATCH`` results; a frame that failed is answered on its own."""
        carry: asyncio.Future | None = None
        while True:
            job = carry if carry is not None else await in_flight.get()
            carry = None
            try:
                result = await job
            except Exception as err:  # noqa: BLE001 - answered exactly like a failure in receive()
                await self._failed(err)
                if self.closed:
                    return
                continue
            ack, results = result.ack, list(result.ack.results)
            while not in_flight.empty():
                nxt = in_flight.get_nowait()
                if not nxt.done() or nxt.cancelled() or nxt.exception() is not None or \
                        len(results) + len(nxt.result().ack.results) > MAX_BATCH:
                    carry = nxt
                    break
                later = nxt.result().ack
                ack = later  # cumulative: it covers every seq before it
                results += later.results
            if ack is not result.ack:
                ack = Ack.model_construct(seq=ack.seq, results=results)
            if not self.closed:
                await self._send(ack)  # the transactions holding these frames have committed

    async def _hello(self, raw: Any) -> None:
        if isinstance(raw, dict) and raw.get("type") == "hello" and (raw.get("v", PROTOCOL_V2) != PROTOCOL_V2
                                                                      or raw.get("protocol", PROTOCOL_V2) != PROTOCOL_V2):
            await self._error(CLOSE_PROTOCOL, f"this server speaks protocol {PROTOCOL_V2}", field="protocol")
            await self._close(CLOSE_PROTOCOL)
            return
        try:
            hello = Hello.model_validate(raw)
        except ValidationError as err:
            loc, detail = _field(err)
            await self._error(CLOSE_PROTOCOL, f"the first message must be a valid hello; {detail}", field=loc)
            await self._close(CLOSE_PROTOCOL)
            return
        try:
            device = await database_sync_to_async(camera_services.device_authenticate)(
                device_id=hello.device_id, nonce=self.nonce, signature=hello.signature)
        except NotAllowed:
            await self._close(CLOSE_REVOKED)
            return
        except NotAuthenticated:
            await self._close(CLOSE_AUTH_FAILED)
            return
        self.hello_timer.cancel()
        self.device_id, self.tenant_id = device.id, device.tenant_id
        self.capabilities = frozenset(hello.capabilities)
        await database_sync_to_async(health.device_online)(device=device, agent_version=hello.agent_version)
        await self.channel_layer.group_add(edge_device_group(device.id), self.channel_name)
        logger.info("edge.connected", extra={"device_id": device.id, "agent_version": hello.agent_version,
                                             "last_acked_seq": hello.last_acked_seq, "last_seq": device.last_seq})
        await self._send(Welcome(device_id=device.id, last_seq=device.last_seq,
                                 config_version=device.config_version))
        if "config" in hello.capabilities:  # the current signed config (same version if unchanged)
            await self.edge_config({"type": "edge.config", "device_id": device.id})
        if "command" in hello.capabilities:  # commands sent while the device was offline
            for message in await database_sync_to_async(camera_services.device_commands_pending)(
                    device_id=device.id, tenant_id=device.tenant_id):
                await self.edge_send({"message": message})

    # --- group messages (services elsewhere send these to edge_device_group(device_id)) ----------
    async def edge_send(self, event: dict[str, Any]) -> None:
        """Forward a cloud -> edge message (``config``, ``command``) given as a JSON-able dict."""
        await self.send(text_data=json.dumps(event["message"]))

    async def edge_config(self, event: dict[str, Any]) -> None:
        """The device's config changed (cameras.live.edge_config_changed, after commit): send it signed."""
        if self.device_id is None or self.tenant_id is None or self.closed:
            return
        try:
            push = await database_sync_to_async(config_push_for_device)(device_id=self.device_id,
                                                                        tenant_id=self.tenant_id)
        except Exception:
            logger.exception("edge.config_sign_failed", extra={"device_id": self.device_id})
            return
        text = push.model_dump_json()
        size = len(text.encode())
        if size > MAX_FRAME_BYTES:  # too large for one frame: the device fetches it (GET config_fetch_path)
            if "config_fetch" not in self.capabilities:
                logger.error("edge.config_too_large", extra={"device_id": self.device_id, "bytes": size,
                                                             "config_version": push.version})
                return
            logger.info("edge.config_notice_sent", extra={"device_id": self.device_id, "bytes": size,
                                                          "config_version": push.version})
            await self._send(ConfigNotice(version=push.version, size=size))
            return
        logger.info("edge.config_sent", extra={"device_id": self.device_id, "config_version": push.version})
        await self.send(text_data=text)

    async def edge_close(self, event: dict[str, Any]) -> None:
        """The device was revoked or disabled: close with its code (default 4403)."""
        await self._close(int(event.get("code", CLOSE_REVOKED)))


__all__ = ["EdgeConsumer"]
