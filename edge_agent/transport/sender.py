"""The sender thread: outbox -> websocket, in order, with a bounded in-flight window.

* Its own thread (never a camera thread). Cameras only :meth:`Outbox.put`; the put wakes the sender.
* Up to ``window_messages`` / ``window_bytes`` unacked messages (and ``window_frames`` frames) in
  flight; one message per frame, or a :class:`~edge_agent.protocol.Batch` of those waiting (each
  frame <= ``MAX_FRAME_BYTES``; while acks are pending it lingers ``linger_s`` to batch more).
* ``Ack``: acked rows deleted, rejected ones dead-lettered (:meth:`Outbox.ack`).
* After a reconnect it replays from the oldest unacked row, in order (the cloud is idempotent by seq).
* Connect failures: exponential backoff with full jitter (``backoff_min_s`` .. ``backoff_max_s``),
  retried while idle. 4401 / 4403 / 4426: logged as errors, retried only every ``backoff_max_s``.
* ``ConfigPush`` / ``ConfigNotice`` / ``Command`` go to ``on_config`` / ``on_config_notice`` /
  ``on_command`` (called on the sender thread: keep them short; a raising callback is logged, never
  kills the link).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection

from edge_agent import __version__
from edge_agent.protocol import (
    MAX_BATCH,
    MAX_FRAME_BYTES,
    Ack,
    Command,
    ConfigNotice,
    ConfigPush,
    ErrorMessage,
    Welcome,
    parse_from_cloud,
)
from edge_agent.transport.device import Device
from edge_agent.transport.outbox import Outbox, Row, TransportError
from edge_agent.transport.ws import FatalClose, closed_error, open_link

log = logging.getLogger(__name__)

_BATCH_HEAD, _BATCH_TAIL = '{"v":2,"type":"batch","messages":[', "]}"


def frames_of(rows: list[Row]) -> Iterator[tuple[str, list[Row]]]:
    """Group rows into frames: a lone message as itself, several as one ``batch``, each <= MAX_FRAME_BYTES."""
    group: list[Row] = []
    size = len(_BATCH_HEAD) + len(_BATCH_TAIL)
    for row in rows:
        if group and (size + row.size + 1 > MAX_FRAME_BYTES or len(group) >= MAX_BATCH):
            yield _frame(group), group
            group, size = [], len(_BATCH_HEAD) + len(_BATCH_TAIL)
        group.append(row)
        size += row.size + 1
    if group:
        yield _frame(group), group


def _frame(group: list[Row]) -> str:
    if len(group) == 1:
        return group[0].body
    return _BATCH_HEAD + ",".join(r.body for r in group) + _BATCH_TAIL


class Sender:
    def __init__(self, outbox: Outbox, device: Device, *,
                 on_config: Callable[[ConfigPush], None] | None = None,
                 on_command: Callable[[Command], None] | None = None,
                 on_config_notice: Callable[[ConfigNotice], None] | None = None,
                 on_welcome: Callable[[Welcome], None] | None = None,
                 window_messages: int = 500, window_bytes: int = 1024 * 1024, batch: bool = True,
                 window_frames: int = 16, linger_s: float = 0.005,
                 backoff_min_s: float = 0.5, backoff_max_s: float = 30.0, open_timeout_s: float = 10.0,
                 agent_version: str = __version__) -> None:
        self.outbox, self.device = outbox, device
        self.on_config, self.on_command, self.on_welcome = on_config, on_command, on_welcome
        self.on_config_notice = on_config_notice
        self.window_messages, self.window_bytes, self.batch = max(1, window_messages), max(1, window_bytes), batch
        self.window_frames, self.linger_s = max(1, window_frames), max(0.0, linger_s)
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, max(backoff_min_s, backoff_max_s)
        self.open_timeout_s, self.agent_version = open_timeout_s, agent_version
        self.state = "idle"  # idle | connecting | connected | backoff | fatal | stopped
        self.connected = threading.Event()
        self.fatal: FatalClose | None = None
        self.welcome: Welcome | None = None
        self.connects = 0  # successful handshakes
        self.sent = 0  # messages put on the wire (replays included)
        self.last_error = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._flush_deadline = 0.0
        self._thread: threading.Thread | None = None
        outbox.add_listener(self._wake.set)

    # ------------------------------------------------------------------ public
    def start(self) -> Sender:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edge-sender", daemon=True)
            self._thread.start()
        return self

    def stop(self, flush_timeout_s: float = 5.0) -> int:
        """Stop; while connected, keep sending for up to ``flush_timeout_s`` until every message is acked.
        Returns how many messages stay in the outbox (they go out on the next start)."""
        self._flush_deadline = time.monotonic() + max(0.0, flush_timeout_s)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=flush_timeout_s + self.open_timeout_s + 5)
        self.state = "stopped"
        return self.outbox.pending()

    def flush(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (everything acked or dead-lettered); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self.state = "connecting"
            try:
                self._session()
                attempt = 0
                continue
            except FatalClose as err:
                self.fatal, self.state, self.last_error = err, "fatal", str(err)
                log.error("cloud link refused", extra={"code": err.code, "detail": str(err),
                                                       "retry_s": self.backoff_max_s})
                delay = self.backoff_max_s
                attempt = 0
            except (TransportError, ConnectionClosed, InvalidHandshake, InvalidURI, OSError, TimeoutError,
                    ValidationError) as err:
                detail = str(closed_error(err)) if isinstance(err, ConnectionClosed) else f"{type(err).__name__}: {err}"
                attempt += 1
                delay = random.uniform(self.backoff_min_s, min(self.backoff_max_s, self.backoff_min_s * 2 ** attempt))
                self.state, self.last_error = "backoff", detail
                log.warning("cloud link down; retrying", extra={"detail": detail, "attempt": attempt,
                                                                "retry_s": round(delay, 2), "pending": self.outbox.pending()})
            except Exception as err:  # noqa: BLE001 - process edge: the sender thread must survive
                attempt += 1
                delay = self.backoff_max_s
                self.state, self.last_error = "backoff", f"{type(err).__name__}: {err}"
                log.error("sender error", exc_info=True)
            self._stop.wait(delay)
        self.state = "stopped"

    def _session(self) -> None:
        conn, welcome = open_link(self.device, last_acked_seq=self.outbox.acked_seq, open_timeout_s=self.open_timeout_s,
                                  agent_version=self.agent_version)
        try:
            renumbered = self.outbox.bump_sequence(welcome.last_seq)
            self.welcome, self.fatal, self.state = welcome, None, "connected"
            self.connects += 1
            self.connected.set()
            log.info("cloud link up", extra={"device_id": welcome.device_id, "last_seq": welcome.last_seq,
                                             "renumbered": renumbered, "pending": self.outbox.pending()})
            if self.on_welcome is not None:
                self._callback(self.on_welcome, welcome)
            inbox: queue.Queue[Any] = queue.Queue()
            rx = threading.Thread(target=self._receive, args=(conn, inbox), name="edge-receiver", daemon=True)
            rx.start()
            self._stream(conn, inbox)
        finally:
            self.connected.clear()
            conn.close()

    def _receive(self, conn: ClientConnection, inbox: queue.Queue[Any]) -> None:
        while True:
            try:
                text = conn.recv()
            except ConnectionClosed as err:
                inbox.put(err)
                self._wake.set()
                return
            try:
                inbox.put(parse_from_cloud(text))
            except ValidationError as err:
                log.warning("invalid message from the cloud ignored", extra={"detail": err.errors()[0]["msg"]})
                continue
            self._wake.set()

    def _stream(self, conn: ClientConnection, inbox: queue.Queue[Any]) -> None:
        sent_upto = 0  # replay from the oldest unacked row on every connection
        in_flight: OrderedDict[int, int] = OrderedDict()  # seq -> bytes
        frames: deque[int] = deque()  # last seq of each unacked frame
        in_bytes = 0
        while True:
            self._wake.clear()
            while True:
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, ConnectionClosed):
                    raise closed_error(item)
                in_bytes -= self._handle(item, in_flight)
                if isinstance(item, Ack):
                    while frames and (frames[0] <= item.seq or frames[0] not in in_flight):
                        frames.popleft()
            if self._stop.is_set():
                caught_up = self.outbox.last_seq <= sent_upto or not self.outbox.rows_after(sent_upto, limit=1)
                if (not in_flight and caught_up) or time.monotonic() >= self._flush_deadline:
                    conn.close(1000, "agent stopping")
                    return
            room_n, room_b = self.window_messages - len(in_flight), self.window_bytes - in_bytes
            if room_n > 0 and room_b > 0 and len(frames) < self.window_frames and self.outbox.last_seq > sent_upto:
                if in_flight and self.linger_s:  # acks pending anyway: let a few more puts join this batch
                    time.sleep(self.linger_s)
                rows = self.outbox.rows_after(sent_upto, limit=room_n if self.batch else 1, max_bytes=room_b)
                if rows:
                    self.outbox.mark_sent(rows[-1].seq)
                    for frame, group in frames_of(rows):
                        try:
                            conn.send(frame)
                        except ConnectionClosed as err:
                            raise closed_error(err) from err
                        for r in group:
                            in_flight[r.seq] = r.size
                            in_bytes += r.size
                        frames.append(group[-1].seq)
                        self.sent += len(group)
                    sent_upto = rows[-1].seq
                    continue
            self._wake.wait(0.5)

    def _handle(self, msg: Any, in_flight: OrderedDict[int, int]) -> int:
        """Apply one cloud message; returns the in-flight bytes it released."""
        if isinstance(msg, Ack):
            self.outbox.ack(msg.seq, msg.results)
            freed = 0
            while in_flight and next(iter(in_flight)) <= msg.seq:
                freed += in_flight.popitem(last=False)[1]
            for r in msg.results:
                freed += in_flight.pop(r.seq, 0)
            return freed
        if isinstance(msg, ConfigPush):
            if self.on_config is None:
                log.warning("config push ignored: no handler", extra={"version": msg.version})
            else:
                self._callback(self.on_config, msg)
        elif isinstance(msg, ConfigNotice):
            if self.on_config_notice is None:
                log.warning("config notice ignored: no handler", extra={"version": msg.version})
            else:
                self._callback(self.on_config_notice, msg)
        elif isinstance(msg, Command):
            if self.on_command is None:
                log.warning("command ignored: no handler", extra={"command_id": msg.command_id, "action": msg.action})
            else:
                self._callback(self.on_command, msg)
        elif isinstance(msg, ErrorMessage):
            log.warning("cloud reported an error", extra={"code": msg.code, "detail": msg.detail, "field": msg.field,
                                                          "seq": msg.seq})
        else:
            log.warning("unexpected message from the cloud ignored", extra={"type": msg.type})
        return 0

    def _callback(self, fn: Callable[[Any], None], msg: Any) -> None:
        try:
            fn(msg)
        except Exception:  # noqa: BLE001 - a handler bug must not drop the cloud link
            log.error("handler failed", exc_info=True, extra={"type": msg.type})
