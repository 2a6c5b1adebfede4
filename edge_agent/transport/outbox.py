"""Durable outbox: every edge -> cloud message is stored (SQLite, WAL) before it is sent and deleted
only once the cloud acked it, so nothing the agent accepted is lost while the cloud is unreachable.

* :meth:`Outbox.put` assigns ``seq`` = the row id (``AUTOINCREMENT``: never reused, even after the
  newest rows were acked and deleted) and stores the message's JSON *with* that seq. It is the only
  thing on a camera thread's path: one short local transaction, never network I/O.
* :meth:`Outbox.ack` applies an :class:`~edge_agent.protocol.Ack`: acked rows are deleted, rejected
  ones move to ``dead_letter`` with the cloud's error.
* :meth:`Outbox.bump_sequence` makes the next seq exceed the cloud's ``Welcome.last_seq`` (a fresh
  outbox after a reinstall must not reuse seqs the cloud already holds); rows never sent whose seq
  the cloud already has are renumbered (same order), so they are not taken for duplicates.
* Bounded in bytes (``max_bytes``, default 64 MiB): when full, the oldest heartbeats go first, then
  stream status, then command results, events last. Every drop is counted (``dropped_by_policy``,
  reported in the heartbeat) and logged.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edge_agent.errors import EdgeError
from edge_agent.protocol import MAX_FRAME_BYTES

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
OUTBOX_FILE = "outbox.sqlite3"
# what goes first when the outbox is full (lowest first); anything else (events) last
DROP_ORDER = ("heartbeat", "stream_status", "command_result")


class TransportError(EdgeError):
    """The cloud link failed (network error, refused handshake, protocol error)."""


class OutboxError(EdgeError):
    """The outbox file cannot be opened or used."""


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    type: str
    body: str  # the message JSON, including ``"seq": <seq>``
    size: int  # UTF-8 bytes of ``body``


@dataclass(frozen=True, slots=True)
class DeadLetter:
    seq: int
    type: str
    body: str
    error: str
    dead_at: float


def _with_seq(msg: BaseModel | dict[str, Any], seq: int) -> str:
    if isinstance(msg, BaseModel):
        if "seq" not in type(msg).model_fields:
            raise OutboxError(f"{type(msg).__name__} has no seq field: only outbox messages (v2 edge messages) are queued")
        return msg.model_copy(update={"seq": seq}).model_dump_json()
    return json.dumps({**msg, "seq": seq}, separators=(",", ":"))


class Outbox:
    def __init__(self, path: Path | str = ":memory:", *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < MAX_FRAME_BYTES:
            raise OutboxError(f"outbox max_bytes must be at least {MAX_FRAME_BYTES} (one frame), got {max_bytes}")
        self.path = str(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process kill
            self._db.executescript("""
                CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL,
                    body TEXT NOT NULL, size INTEGER NOT NULL, created REAL NOT NULL);
                CREATE TABLE IF NOT EXISTS dead_letter (id INTEGER PRIMARY KEY, type TEXT NOT NULL, body TEXT NOT NULL,
                    error TEXT NOT NULL, dead_at REAL NOT NULL);
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                CREATE INDEX IF NOT EXISTS outbox_type ON outbox (type, id);
            """)
            depth, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        except sqlite3.Error as err:
            raise OutboxError(f"cannot open outbox {self.path}: {err}") from err
        self._depth, self._bytes = int(depth), int(size)
        self.last_seq = self._next_seq() - 1

    # ------------------------------------------------------------------ internals (lock held)
    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (key, value))

    def _next_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return (int(row[0]) if row else 0) + 1

    def _set_sequence(self, seq: int) -> None:
        if self._db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'", (seq,)).rowcount == 0:
            self._db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (seq,))

    def _make_room(self, incoming: int) -> None:
        """Drop the oldest low-value rows until ``incoming`` more bytes fit (events go last)."""
        dropped: dict[str, int] = {}
        for kind in (*DROP_ORDER, None):
            while self._bytes + incoming > self.max_bytes:
                if kind is None:
                    rows = self._db.execute("SELECT id, type, size FROM outbox ORDER BY id LIMIT 64").fetchall()
                else:
                    rows = self._db.execute("SELECT id, type, size FROM outbox WHERE type = ? ORDER BY id LIMIT 64",
                                            (kind,)).fetchall()
                if not rows:
                    break
                for row_id, typ, size in rows:
                    if self._bytes + incoming <= self.max_bytes:
                        break
                    self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                    self._depth -= 1
                    self._bytes -= int(size)
                    dropped[typ] = dropped.get(typ, 0) + 1
        if dropped:
            total = sum(dropped.values())
            self._set_meta("dropped_by_policy", self._meta("dropped_by_policy") + total)
            log.warning("outbox full: dropped oldest messages", extra={"dropped": dropped, "max_bytes": self.max_bytes})

    # ------------------------------------------------------------------ camera side
    def add_listener(self, fn: Callable[[], None]) -> None:
        """``fn()`` is called (outside the lock) after each put: the sender's wake-up."""
        self._listeners.append(fn)

    def put(self, msg: BaseModel | dict[str, Any]) -> int:
        """Store one message; returns its seq. Never touches the network."""
        kind = str(msg.type if isinstance(msg, BaseModel) else msg.get("type", "?"))  # type: ignore[attr-defined]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._next_seq()
                body = _with_seq(msg, seq)
                size = len(body.encode())
                if size > MAX_FRAME_BYTES:  # can never be sent: keep it, visibly, in dead_letter
                    self._set_sequence(seq)
                    self._db.execute("INSERT INTO dead_letter (id, type, body, error, dead_at) VALUES (?, ?, ?, ?, ?)",
                                     (seq, kind, body, f"larger than one frame ({size} > {MAX_FRAME_BYTES} bytes)",
                                      time.time()))
                    self._db.execute("COMMIT")
                    log.error("message too large for one frame: dead-lettered", extra={"seq": seq, "type": kind})
                    return seq
                self._make_room(size)
                self._db.execute("INSERT INTO outbox (id, type, body, size, created) VALUES (?, ?, ?, ?, ?)",
                                 (seq, kind, body, size, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth += 1
            self._bytes += size
            self.last_seq = seq
        for fn in self._listeners:
            fn()
        return seq

    # ------------------------------------------------------------------ sender side
    def rows_after(self, seq: int, *, limit: int = 500, max_bytes: int = 1024 * 1024) -> list[Row]:
        """The oldest rows with seq > ``seq``, in order, at most ``limit`` rows / ``max_bytes`` (at least one row)."""
        with self._lock:
            cur = self._db.execute("SELECT id, type, body, size FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                                   (seq, limit))
            out: list[Row] = []
            total = 0
            for row_id, typ, body, size in cur:
                if out and total + size > max_bytes:
                    break
                out.append(Row(int(row_id), typ, body, int(size)))
                total += size
            return out

    def mark_sent(self, seq: int) -> None:
        """Record that every row up to ``seq`` went on the wire (so :meth:`bump_sequence` knows what is unsent)."""
        with self._lock:
            if seq > self._meta("max_sent"):
                self._set_meta("max_sent", seq)

    def ack(self, cumulative_seq: int, results: Iterable[Any] = ()) -> int:
        """Apply an ack: every row with seq <= ``cumulative_seq`` is done; ``results`` items (``AckResult``
        or dicts with seq/status/error) with status ``rejected`` move to ``dead_letter``. Returns rows removed."""
        removed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for r in results:
                    seq, status, error = (r.seq, r.status, r.error) if not isinstance(r, dict) else \
                        (r["seq"], r["status"], r.get("error", ""))
                    row = self._db.execute("SELECT type, body, size FROM outbox WHERE id = ?", (seq,)).fetchone()
                    if row is None:
                        continue
                    if status == "rejected":
                        self._db.execute("INSERT OR REPLACE INTO dead_letter (id, type, body, error, dead_at) "
                                         "VALUES (?, ?, ?, ?, ?)", (seq, row[0], row[1], error or "rejected", time.time()))
                        log.warning("message rejected by the cloud: dead-lettered",
                                    extra={"seq": seq, "type": row[0], "error": error})
                    self._db.execute("DELETE FROM outbox WHERE id = ?", (seq,))
                    self._depth -= 1
                    self._bytes -= int(row[2])
                    removed += 1
                if cumulative_seq > 0:
                    n, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE id <= ?",
                                               (cumulative_seq,)).fetchone()
                    self._db.execute("DELETE FROM outbox WHERE id <= ?", (cumulative_seq,))
                    self._depth -= int(n)
                    self._bytes -= int(size)
                    removed += int(n)
                    if cumulative_seq > self._meta("acked"):
                        self._set_meta("acked", cumulative_seq)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return removed

    def bump_sequence(self, last_seq: int) -> int:
        """The cloud holds every seq <= ``last_seq``: make the next seq larger. Rows already sent with such
        a seq are delivered (deleted); rows never sent are renumbered after it, keeping their order.
        Returns how many rows were renumbered."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                max_sent = self._meta("max_sent")
                self._db.execute("DELETE FROM outbox WHERE id <= ? AND id <= ?", (last_seq, max_sent))
                unsent = self._db.execute("SELECT id, type, body, size, created FROM outbox WHERE id > ? ORDER BY id",
                                          (max_sent,)).fetchall()
                renumbered = 0
                if unsent and unsent[0][0] <= last_seq:
                    nxt = max(last_seq, max_sent, self._next_seq() - 1) + 1
                    self._db.execute("DELETE FROM outbox WHERE id > ?", (max_sent,))
                    for i, (_, typ, body, _size, created) in enumerate(unsent):
                        new_body = json.dumps({**json.loads(body), "seq": nxt + i}, separators=(",", ":"))
                        self._db.execute("INSERT INTO outbox (id, type, body, size, created) VALUES (?, ?, ?, ?, ?)",
                                         (nxt + i, typ, new_body, len(new_body.encode()), created))
                    renumbered = len(unsent)
                    log.warning("outbox renumbered unsent messages after the cloud's last seq",
                                extra={"last_seq": last_seq, "renumbered": renumbered, "first": nxt})
                if self._next_seq() <= last_seq:
                    self._set_sequence(last_seq)
                if last_seq > self._meta("acked"):
                    self._set_meta("acked", last_seq)
                depth, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth, self._bytes = int(depth), int(size)
            self.last_seq = self._next_seq() - 1
            return renumbered

    # ------------------------------------------------------------------ inspection
    @property
    def acked_seq(self) -> int:
        """The highest cumulative seq the cloud acked (sent as ``Hello.last_acked_seq``)."""
        with self._lock:
            return self._meta("acked")

    def pending(self) -> int:
        with self._lock:
            return self._depth

    def stats(self) -> dict[str, int]:
        """For the heartbeat: outbox_depth, outbox_bytes, dead_letters, dropped_by_policy."""
        with self._lock:
            dead = int(self._db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0])
            return {"outbox_depth": self._depth, "outbox_bytes": self._bytes, "dead_letters": dead,
                    "dropped_by_policy": self._meta("dropped_by_policy")}

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute("SELECT id, type, body, error, dead_at FROM dead_letter ORDER BY id").fetchall()
        return [DeadLetter(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
