"""Fuzz ``/ws/edge/`` after the handshake: malformed frames (random JSON, mutated valid messages, wrong
types, missing fields, unknown types, huge numbers, deep nesting, oversize strings, bad seq, binary)
over one authenticated device connection of a real daphne process.

Each frame must get a reply (an ``error``, or an ``ack``) that parses as a cloud message; the server
never closes the socket with anything but the documented codes and stays up; meanwhile a second
device streams valid events (the real agent Sender) on another connection: all acked and stored.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from edge_agent.pipeline.events import uuid7
from edge_agent.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_PROTOCOL,
    CLOSE_REVOKED,
    MAX_FRAME_BYTES,
    SEQ_MAX,
    Ack,
    ErrorMessage,
    EventOpen,
    challenge_bytes,
    parse_from_cloud,
)
from edge_agent.transport.device import load_device
from edge_agent.transport.outbox import OUTBOX_FILE, Outbox
from edge_agent.transport.sender import Sender

from .conftest import EnrolledDevice

pytestmark = pytest.mark.slow

DOCUMENTED_CLOSES = {CLOSE_AUTH_FAILED, CLOSE_REVOKED, CLOSE_PROTOCOL}
EXAMPLES = 200
VALID_EVENTS = 300


def _valid(camera: str) -> dict[str, dict[str, Any]]:
    event = {"v": 2, "type": "event_open", "seq": 5, "event_id": "ev-fuzz-00000001", "camera_id": camera,
             "start_ts": 1.0, "peak_ts": 2.0, "peak_score": 2.5, "votes": 2, "k": 2, "threshold": 1.0, "frame_index": 20,
             "zone": None, "boxes": [{"x": 1, "y": 2, "w": 3, "h": 4}],
             "models": [{"model": "m", "type": "t", "score": 1.5, "voted": True,
                         "evidence": [{"kind": "cell", "label": "l", "value": 1.0, "where": [1.0]}]}],
             "curve": {"t0": 0.0, "dt": 0.1, "scores": [0.1, 0.2], "threshold": 1.0}}
    return {
        "event_open": event,
        "event_update": {k: v for k, v in {**event, "type": "event_update"}.items() if k != "start_ts"},
        "event_close": {**event, "type": "event_close", "end_ts": 3.0},
        "stream_status": {"v": 2, "type": "stream_status", "seq": 6, "camera_id": camera, "status": "lost", "ts": 1.0},
        "heartbeat": {"v": 2, "type": "heartbeat", "seq": 7, "ts": 1.0, "agent_version": "0.2.0",
                      "cameras": [{"camera_id": camera, "state": "running", "fps": 10.0}]},
        "command_result": {"v": 2, "type": "command_result", "seq": 8, "command_id": "c-1", "ok": True},
        "hello": {"v": 2, "type": "hello", "device_id": 1, "agent_version": "x", "signature": "AAAA"},
    }


JSON_LEAF = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
             | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
JSON_VALUE = st.recursive(JSON_LEAF, lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=12), c, max_size=5),
                          max_leaves=25)
BAD_SEQ = st.sampled_from([0, -1, SEQ_MAX + 1, 2**64, 10**30, "1", 1.5, True, None, [], {}])
HUGE = st.sampled_from([10**400, -(10**400), 2**63, 1e308, -1e308, 10**4000])


def _deep(n: int, opener: str) -> str:
    closer = "]" if opener == "[" else "}"
    inner = "1" if opener == "[" else ""
    if opener == "{":
        return '{"a":' * n + "1" + "}" * n
    return opener * n + inner + closer * n


@st.composite
def frames(draw: Any, camera: str) -> tuple[str, Any]:
    """(kind, str | bytes | dict): one frame to send; a dict gets fresh seqs (where it has an int one) and is
    sent as JSON, so its messages reach the ingest instead of being duplicates of earlier seqs."""
    valid = _valid(camera)
    kind = draw(st.sampled_from(["random_json", "mutate", "mutate", "mutate", "bad_seq", "unknown_type", "huge",
                                 "deep", "oversize", "not_json", "binary", "batch"]))
    if kind == "random_json":
        return kind, json.dumps(draw(JSON_VALUE))
    if kind == "not_json":
        return kind, draw(st.text(min_size=0, max_size=200))
    if kind == "binary":
        return kind, draw(st.binary(max_size=200))
    if kind == "deep":
        return kind, _deep(draw(st.integers(min_value=30, max_value=20_000)), draw(st.sampled_from(["[", "{"])))
    msg = dict(valid[draw(st.sampled_from(sorted(valid)))])
    if kind == "mutate":
        keys = sorted(msg)
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            op = draw(st.sampled_from(["drop", "retype", "extra"]))
            if op == "drop" and msg:
                msg.pop(draw(st.sampled_from(sorted(msg))), None)
            elif op == "retype":
                msg[draw(st.sampled_from(keys))] = draw(JSON_VALUE)
            else:
                msg[draw(st.text(min_size=1, max_size=10))] = draw(JSON_VALUE)
    elif kind == "bad_seq":
        msg["seq"] = draw(BAD_SEQ)
    elif kind == "unknown_type":
        msg["type"] = draw(st.text(max_size=20) | st.integers() | st.none())
    elif kind == "huge":
        field = draw(st.sampled_from([k for k in ("seq", "peak_score", "frame_index", "ts", "device_id", "votes")
                                      if k in msg] or ["seq"]))
        msg[field] = draw(HUGE)
    elif kind == "oversize":
        field = draw(st.sampled_from(["camera_id", "event_id", "detail", "agent_version", "zone"]))
        msg[field] = "x" * draw(st.sampled_from([201, 5_000, MAX_FRAME_BYTES // 2, MAX_FRAME_BYTES + 10]))
    elif kind == "batch":
        items = draw(st.lists(st.sampled_from(sorted(valid)), min_size=0, max_size=4))
        messages: list[Any] = []
        for i, name in enumerate(items):
            item = dict(valid[name])
            if draw(st.booleans()):
                item[draw(st.sampled_from(sorted(item)))] = draw(JSON_VALUE)
            item["seq"] = draw(st.integers(min_value=1, max_value=10**6)) + i
            messages.append(item)
        if draw(st.booleans()):
            messages.append(draw(JSON_VALUE))
        msg = {"v": draw(st.sampled_from([2, 2, 2, 1, "2"])), "type": "batch", "messages": messages}
    return kind, json.dumps(msg) if kind in ("bad_seq", "huge") else msg


def _fresh_seqs(obj: Any, nxt: Any) -> Any:
    """Give every readable integer seq (the frame's, or its batch items') the next fresh one."""

    def fix(m: Any) -> Any:
        if isinstance(m, dict) and isinstance(m.get("seq"), int) and not isinstance(m["seq"], bool) \
                and 1 <= m["seq"] <= SEQ_MAX:
            return {**m, "seq": nxt()}
        return m

    if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
        return {**obj, "messages": [fix(m) for m in obj["messages"]]}
    return fix(obj)


def _handshake(ws_url: str, dev: EnrolledDevice) -> ClientConnection:
    key = load_pem_private_key((dev.data_dir / "device_key.pem").read_bytes(), password=None)
    conn = connect(ws_url, open_timeout=10, close_timeout=2, max_size=4 * MAX_FRAME_BYTES, legacy=True)
    challenge = json.loads(conn.recv(timeout=10))
    signature = base64.b64encode(key.sign(challenge_bytes(challenge["nonce"], dev.device_id))).decode()  # type: ignore[union-attr]
    conn.send(json.dumps({"v": 2, "type": "hello", "device_id": dev.device_id, "agent_version": "fuzz",
                          "signature": signature}))
    welcome = json.loads(conn.recv(timeout=10))
    assert welcome["type"] == "welcome", welcome
    return conn


def test_malformed_frames_get_error_replies_while_another_device_streams_valid_events(
        server_factory: Any, enroll_devices: Any, tmp_path: Path) -> None:
    fuzzed, streaming = enroll_devices(2)
    server = server_factory().start()
    streaming.point_at(server.ws_url)
    outbox = Outbox(tmp_path / OUTBOX_FILE)
    sender = Sender(outbox, load_device(streaming.data_dir), backoff_min_s=0.05, backoff_max_s=0.5).start()
    fed = threading.Event()
    stop_feed = threading.Event()

    def feed() -> None:  # valid events, a few at a time, all through the fuzzing
        for i in range(VALID_EVENTS):
            if stop_feed.is_set():
                return
            outbox.put(EventOpen(event_id=uuid7(), camera_id=str(streaming.camera_id), start_ts=float(i),
                                 peak_ts=i + 0.5, peak_score=2.5, votes=2, k=2, threshold=1.0, frame_index=i))
            time.sleep(0.05)
        fed.set()

    feeder = threading.Thread(target=feed, daemon=True)
    state: dict[str, Any] = {"conn": _handshake(server.ws_url, fuzzed), "sentinel": 10**6 + 10, "frames": 0,
                             "errors": 0, "acks": 0, "rejected": 0, "closes": [], "codes": {}}

    def reply_until_sentinel(conn: ClientConnection, sentinel: int) -> list[Any]:
        replies = []
        deadline = time.monotonic() + 20
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no ack of the sentinel seq {sentinel} within 20 s"
            msg = parse_from_cloud(conn.recv(timeout=left))  # every reply is a valid cloud message
            if isinstance(msg, Ack) and any(r.seq == sentinel for r in msg.results):
                if any(r.seq != sentinel for r in msg.results):  # frames committed together share one ack
                    replies.append(msg)
                return replies
            replies.append(msg)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(frame=frames(str(fuzzed.camera_id)))
    def fuzz(frame: tuple[str, Any]) -> None:
        kind, data = frame

        def nxt() -> int:
            state["sentinel"] += 1
            return state["sentinel"]

        if isinstance(data, dict):
            data = json.dumps(_fresh_seqs(data, nxt))
        conn: ClientConnection = state["conn"]
        sentinel = nxt()
        beat = json.dumps({"v": 2, "type": "heartbeat", "seq": sentinel, "ts": time.time(), "agent_version": "fuzz"})
        try:
            conn.send(data)
            conn.send(beat)  # a valid message after it: its ack marks the end of the fuzzed frame's replies
            replies = reply_until_sentinel(conn, sentinel)
        except ConnectionClosed as err:
            code = err.rcvd.code if err.rcvd is not None else None
            state["closes"].append(code)
            assert code in DOCUMENTED_CLOSES, f"server closed with {code} after {kind} frame {str(data)[:300]!r}"
            state["conn"] = _handshake(server.ws_url, fuzzed)
            return
        state["frames"] += 1
        assert replies, f"no reply to {kind} frame {str(data)[:300]!r}"
        for r in replies:
            if isinstance(r, ErrorMessage):
                state["errors"] += 1
                state["codes"][r.code] = state["codes"].get(r.code, 0) + 1
                assert r.code in {4400, 4403, 4413, 4426}, r
                assert r.detail and "Traceback" not in r.detail
            elif isinstance(r, Ack):
                state["acks"] += 1
                state["rejected"] += sum(1 for x in r.results if x.status == "rejected")
            else:
                raise AssertionError(f"unexpected reply {r!r} to {str(data)[:300]!r}")

    try:
        feeder.start()
        started = time.perf_counter()
        fuzz()
        fuzz_s = time.perf_counter() - started
        assert server.alive(), "the server died during fuzzing"
        # positive control on the fuzzed connection: a valid event after all that is stored
        conn = state["conn"]
        good = {"v": 2, "type": "event_open", "seq": state["sentinel"] + 1, "event_id": uuid7(),
                "camera_id": str(fuzzed.camera_id), "start_ts": 1.0, "peak_ts": 2.0, "peak_score": 2.5, "votes": 2,
                "k": 2, "threshold": 1.0, "frame_index": 1}
        conn.send(json.dumps(good))
        ack = parse_from_cloud(conn.recv(timeout=10))
        assert isinstance(ack, Ack) and [(r.seq, r.status) for r in ack.results] == [(good["seq"], "ok")], ack
        conn.close()
        assert fed.wait(60), "the valid feed did not finish"
        assert sender.flush(60), f"the streaming device's outbox still holds {outbox.pending()}"
    finally:
        stop_feed.set()
        feeder.join(timeout=10)
        sender.stop(flush_timeout_s=2)
        try:
            state["conn"].close()
        except Exception:  # noqa: BLE001 - teardown
            pass
    counts = server.db.alert_counts(streaming.tenant_id, streaming.device_id)
    print(f"\ningest fuzz: {state['frames']} malformed frames in {fuzz_s:.1f} s -> {state['errors']} error replies "
          f"(codes {state['codes']}), {state['acks']} acks ({state['rejected']} rejected results), closes "
          f"{state['closes']}; meanwhile the other device: {counts['alerts']}/{VALID_EVENTS} alerts stored, "
          f"dead letters {len(outbox.dead_letters())}")
    assert counts == {"alerts": VALID_EVENTS, "distinct": VALID_EVENTS}
    assert outbox.dead_letters() == []
    assert server.alive()


FIRST_FRAME_EXAMPLES = 60


def test_malformed_first_frames_close_with_documented_codes_only(server_factory: Any, enroll_devices: Any) -> None:
    """Before the handshake: whatever the first frame is, the server closes with 4401 / 4426 (never 1011 or
    another code) and stays up; a real hello right after still gets its welcome (positive control)."""
    (dev,) = enroll_devices(1)
    server = server_factory().start()
    closes: dict[int | None, int] = {}
    valid_hello = {"v": 2, "type": "hello", "device_id": dev.device_id, "agent_version": "fuzz", "signature": "AAAA"}

    first = (st.tuples(st.just("text"), JSON_VALUE.map(json.dumps))
             | st.tuples(st.just("text"), st.text(max_size=100))
             | st.tuples(st.just("bytes"), st.binary(max_size=100))
             | st.tuples(st.just("text"), st.fixed_dictionaries({}, optional={k: JSON_VALUE for k in valid_hello})
                         .map(lambda d: json.dumps({**valid_hello, **d})))
             | st.tuples(st.just("text"), st.sampled_from([_deep(5000, "["), "x" * (MAX_FRAME_BYTES + 1)])))

    @settings(max_examples=FIRST_FRAME_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(frame=first)
    def fuzz(frame: tuple[str, Any]) -> None:
        _, data = frame
        with connect(server.ws_url, open_timeout=10, close_timeout=2, max_size=4 * MAX_FRAME_BYTES) as conn:
            assert json.loads(conn.recv(timeout=10))["type"] == "challenge"
            conn.send(data)
            deadline = time.monotonic() + 15
            try:
                while time.monotonic() < deadline:
                    msg = parse_from_cloud(conn.recv(timeout=max(0.01, deadline - time.monotonic())))
                    assert isinstance(msg, ErrorMessage), f"{msg!r} after first frame {str(data)[:200]!r}"
                raise AssertionError(f"no close within 15 s after first frame {str(data)[:200]!r}")
            except ConnectionClosed as err:
                code = err.rcvd.code if err.rcvd is not None else None
                closes[code] = closes.get(code, 0) + 1
                assert code in DOCUMENTED_CLOSES, f"closed with {code} after first frame {str(data)[:200]!r}"

    fuzz()
    assert server.alive()
    _handshake(server.ws_url, dev).close()  # positive control: the real signature still gets a welcome
    print(f"\nfirst-frame fuzz: {sum(closes.values())} connections closed with {closes}; server up, real hello welcomed")
