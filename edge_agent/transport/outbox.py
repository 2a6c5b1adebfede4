"""Durable outbox: messages are stored (SQLite, WAL) before sending and deleted only once the
receiver accepted them, so nothing accepted by the agent is lost when the cloud is unreachable."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from edge_agent.errors import EdgeError


class TransportError(EdgeError):
    """The receiver did not accept a message (network error or non-2xx answer)."""


class Outbox:
    def __init__(self, path: Path | str = ":memory:") -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)")

    def put(self, body: str) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO outbox (body) VALUES (?)", (body,))
            return int(cur.lastrowid or 0)

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def drain(self, send: Callable[[str], None], limit: int = 1000) -> int:
        """Send the oldest messages in order; delete each once ``send`` returns; stop at the first failure."""
        sent = 0
        with self._lock:
            rows = self._db.execute("SELECT id, body FROM outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
            for row_id, body in rows:
                try:
                    send(body)
                except TransportError:
                    break
                self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                sent += 1
        return sent

    def close(self) -> None:
        with self._lock:
            self._db.close()
