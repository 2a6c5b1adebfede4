"""Durable outbox: nothing is lost while the receiver is down; delivery keeps the order."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from edge_agent.transport.http import HttpSender
from edge_agent.transport.outbox import Outbox, TransportError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_messages_wait_in_the_outbox_until_the_receiver_is_back(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/events"
    box = Outbox(tmp_path / "outbox.sqlite")
    send = HttpSender(url, timeout_s=1)
    for i in range(3):
        box.put(json.dumps({"n": i}))
    assert box.drain(send) == 0 and box.pending() == 3
    with pytest.raises(TransportError, match="cannot reach"):
        send("{}")
    box.close()

    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        reopened = Outbox(tmp_path / "outbox.sqlite")  # survives a restart of the agent
        assert reopened.drain(send) == 3
    finally:
        server.shutdown()
    assert got == [{"n": 0}, {"n": 1}, {"n": 2}] and reopened.pending() == 0


def test_http_error_answers_keep_the_message(tmp_path):
    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        box = Outbox()
        box.put("{}")
        assert box.drain(HttpSender(f"http://127.0.0.1:{server.server_port}/")) == 0 and box.pending() == 1
    finally:
        server.shutdown()
