"""The sender thread against a real websocket server on 127.0.0.1 that plays the cloud's side of
protocol v2 (challenge, signature check with the device's public key, welcome, acks after "commit";
it can cut the connection mid-stream, delay acks, reject a seq or close with 4401 / 4403 / 4426).
Delivery is counted by seq: in order, nothing lost, nothing committed twice."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from edge_agent.errors import EdgeError
from edge_agent.protocol import (
    Ack,
    AckResult,
    Batch,
    Challenge,
    Command,
    ConfigPush,
    Hello,
    StreamStatus,
    Welcome,
    challenge_bytes,
    parse_from_edge,
)
from edge_agent.transport.device import load_device
from edge_agent.transport.outbox import Outbox
from edge_agent.transport.sender import Sender

REPO = Path(__file__).resolve().parents[2]
DEVICE_ID = 42


@pytest.fixture(autouse=True)
def _edge_logs_to_pytest():
    """An in-process `vad-edge` run (tests/edge_agent/test_cli.py) points the edge_agent logger at a
    stderr that pytest has closed since; here the sender threads log into pytest's capture instead."""
    import logging

    logger = logging.getLogger("edge_agent")
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers[:], logger.propagate = [], True
    logger.setLevel(logging.INFO)
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _enroll(data_dir: Path, port: int, key: Ed25519PrivateKey | None = None,
            config_keys: dict[str, str] | None = None) -> Ed25519PrivateKey:
    """What `vad-edge enroll` leaves behind: device.json + device_key.pem (0600)."""
    key = key or Ed25519PrivateKey.generate()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "device.json").write_text(json.dumps({
        "device_id": DEVICE_ID, "cloud_url": f"http://127.0.0.1:{port}", "ws_url": f"ws://127.0.0.1:{port}/ws/edge/",
        "config_keys": config_keys or {}}))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (data_dir / "device_key.pem").write_bytes(pem)
    os.chmod(data_dir / "device_key.pem", 0o600)
    return key


def _public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)).decode()


class FakeCloud:
    """The cloud's side of /ws/edge/, in-process, bounded: it stops when the test stops it."""

    def __init__(self, port: int, public_key_b64: str, *, last_seq: int = 0, ack_delay_s: float = 0.0,
                 cut_after: int | None = None, reject: frozenset[int] = frozenset(), close_code: int | None = None,
                 send_after_welcome: list[str] | None = None, delayed_acks: int | None = None) -> None:
        self.public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        self.last_seq, self.ack_delay_s, self.cut_after = last_seq, ack_delay_s, cut_after
        self.reject, self.close_code, self.send_after_welcome = reject, close_code, send_after_welcome or []
        self.delayed_acks = delayed_acks  # how many acks are held ack_delay_s (None: all)
        self.committed: list[dict] = []  # each message the cloud stored, in commit order
        self.received_seqs: list[int] = []  # every seq that arrived, replays included
        self.hellos: list[Hello] = []
        self.connections = 0
        self.acks_sent = 0
        self.max_unacked = 0
        self.frames = 0
        self.lock = threading.Lock()
        self.server = serve(self.handler, "127.0.0.1", port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)

    def handler(self, conn: ServerConnection) -> None:
        with self.lock:
            self.connections += 1
        nonce = secrets.token_urlsafe(24)
        try:
            conn.send(Challenge(nonce=nonce, server_time=time.time()).model_dump_json())
            hello = parse_from_edge(conn.recv(timeout=5))
            self.hellos.append(hello)
            try:
                self.public_key.verify(base64.b64decode(hello.signature), challenge_bytes(nonce, hello.device_id))
            except (InvalidSignature, ValueError):
                conn.close(4401, "bad signature")
                return
            if self.close_code is not None:
                conn.close(self.close_code, "refused by the test")
                return
            conn.send(Welcome(device_id=hello.device_id, last_seq=self.last_seq).model_dump_json())
            for text in self.send_after_welcome:
                conn.send(text)
            unacked = 0
            for text in conn:
                frame = parse_from_edge(text)
                msgs = frame.messages if isinstance(frame, Batch) else [frame]
                self.frames += 1
                results = []
                cut = False
                with self.lock:
                    self.received_seqs.extend(m.seq for m in msgs)
                    for m in msgs:
                        if m.seq <= self.last_seq:
                            results.append(AckResult(seq=m.seq, status="duplicate"))
                            continue
                        self.last_seq = m.seq
                        if m.seq in self.reject:
                            results.append(AckResult(seq=m.seq, status="rejected", error=f"seq {m.seq} refused"))
                            continue
                        self.committed.append(m.model_dump(mode="json"))
                        results.append(AckResult(seq=m.seq, status="ok"))
                        if self.cut_after is not None and len(self.committed) == self.cut_after:
                            self.cut_after, cut = None, True
                            break  # the rest of this frame is lost with the connection
                    unacked += len(msgs)
                    self.max_unacked = max(self.max_unacked, unacked)
                if cut:  # committed, but the ack never goes out: the edge must replay, we answer duplicate
                    conn.close(1011, "cut by the test")
                    return
                if self.ack_delay_s and (self.delayed_acks is None or self.acks_sent < self.delayed_acks):
                    time.sleep(self.ack_delay_s)
                conn.send(Ack(seq=self.last_seq, results=results).model_dump_json())
                unacked = 0
                with self.lock:
                    self.acks_sent += 1
        except (ConnectionClosed, TimeoutError):
            return


def _status(i: int) -> StreamStatus:
    return StreamStatus(camera_id="7", status="opened", ts=float(i), detail=f"n{i}")


def _wait(cond, timeout_s: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.fixture
def link(tmp_path):
    """(data_dir, port, key, start_sender): senders are stopped at the end."""
    port = _free_port()
    key = _enroll(tmp_path / "dev", port)
    senders: list[Sender] = []

    def start(outbox: Outbox, **kw) -> Sender:
        kw.setdefault("backoff_min_s", 0.05)
        kw.setdefault("backoff_max_s", 0.4)
        s = Sender(outbox, load_device(tmp_path / "dev"), **kw).start()
        senders.append(s)
        return s

    yield tmp_path / "dev", port, key, start
    for s in senders:
        s.stop(flush_timeout_s=0.5)


def test_in_order_replay_after_a_cut_with_no_loss_and_no_duplicates(link, tmp_path):
    data_dir, port, key, start = link
    box = Outbox(tmp_path / "outbox.sqlite3")
    sender = start(box, window_messages=50)
    for i in range(150):  # the cloud is not there yet: everything waits in the outbox, the sender keeps trying
        box.put(_status(i))
    time.sleep(0.5)
    assert sender.state in ("connecting", "backoff") and box.pending() == 150
    cloud = FakeCloud(port, _public_b64(key), cut_after=60)
    try:
        for i in range(150, 300):
            box.put(_status(i))
        assert _wait(lambda: box.pending() == 0), (sender.state, sender.last_error, box.pending())
    finally:
        cloud.stop()
    seqs = [m["seq"] for m in cloud.committed]
    assert seqs == list(range(1, 301))  # in order, every one, once
    assert [m["detail"] for m in cloud.committed] == [f"n{i}" for i in range(300)]
    assert len(cloud.received_seqs) > 300  # the replay after the cut re-sent what was not acked ...
    assert cloud.connections >= 2 and sender.connects >= 2  # ... on a new connection
    assert cloud.hellos[-1].last_acked_seq >= 1 and cloud.hellos[0].device_id == DEVICE_ID
    assert cloud.max_unacked <= 50  # the in-flight window


def test_a_rejected_message_is_dead_lettered_and_later_ones_flow(link, tmp_path):
    data_dir, port, key, start = link
    cloud = FakeCloud(port, _public_b64(key), reject=frozenset({3}))
    box = Outbox(tmp_path / "outbox.sqlite3")
    try:
        start(box)
        for i in range(6):
            box.put(_status(i))
            time.sleep(0.01)
        assert _wait(lambda: box.pending() == 0)
    finally:
        cloud.stop()
    assert [m["seq"] for m in cloud.committed] == [1, 2, 4, 5, 6]
    dead = box.dead_letters()
    assert [(d.seq, d.error) for d in dead] == [(3, "seq 3 refused")] and json.loads(dead[0].body)["detail"] == "n2"
    assert box.stats()["dead_letters"] == 1


def test_next_seq_follows_the_clouds_last_seq_after_a_reinstall(link, tmp_path):
    data_dir, port, key, start = link
    box = Outbox(tmp_path / "fresh.sqlite3")  # fresh outbox; the cloud already has seqs up to 1000
    for i in range(3):
        box.put(_status(i))
    cloud = FakeCloud(port, _public_b64(key), last_seq=1000)
    try:
        start(box)
        assert _wait(lambda: box.pending() == 0)
        box.put(_status(3))
        assert _wait(lambda: len(cloud.committed) == 4)
    finally:
        cloud.stop()
    assert [m["seq"] for m in cloud.committed] == [1001, 1002, 1003, 1004]  # renumbered, not taken for duplicates
    assert [m["detail"] for m in cloud.committed] == ["n0", "n1", "n2", "n3"]


def test_a_slow_cloud_does_not_slow_put(link, tmp_path):
    data_dir, port, key, start = link
    cloud = FakeCloud(port, _public_b64(key), ack_delay_s=2.0, delayed_acks=2)
    box = Outbox(tmp_path / "outbox.sqlite3")
    try:
        sender = start(box)
        assert sender.connected.wait(10)
        box.put(_status(0))
        assert _wait(lambda: cloud.frames >= 1)  # the cloud holds its first ack for 2 s from here
        done = threading.Event()

        def camera() -> None:
            for i in range(1, 501):
                box.put(_status(i))
            done.set()

        threading.Thread(target=camera, name="camera-test").start()
        assert done.wait(10)
        assert cloud.acks_sent == 0  # all 500 puts returned while no ack had come back
        assert _wait(lambda: box.pending() == 0, 30)
    finally:
        cloud.stop()
    assert [m["seq"] for m in cloud.committed] == list(range(1, 502))


@pytest.mark.parametrize(("code", "says"), [(4403, "revoked"), (4426, "upgrade the agent")])
def test_fatal_close_codes_are_logged_and_retried_only_slowly(link, tmp_path, caplog, code, says):
    data_dir, port, key, start = link
    cloud = FakeCloud(port, _public_b64(key), close_code=code)
    box = Outbox(tmp_path / "outbox.sqlite3")
    box.put(_status(0))
    try:
        sender = start(box, backoff_max_s=30.0)
        assert _wait(lambda: sender.fatal is not None, 10)
        time.sleep(1.0)
        assert cloud.connections == 1  # backed off to the max, not hammering the cloud
    finally:
        cloud.stop()
    assert sender.fatal.code == code and says in str(sender.fatal) and sender.state == "fatal"
    refused = [r for r in caplog.records if r.getMessage() == "cloud link refused"]
    assert refused and refused[0].levelname == "ERROR" and says in refused[0].detail  # logged clearly
    assert box.pending() == 1  # kept for later


def test_a_wrong_key_gets_4401_and_the_right_key_connects(link, tmp_path):
    data_dir, port, key, start = link
    cloud = FakeCloud(port, _public_b64(Ed25519PrivateKey.generate()))  # the cloud knows another key
    box = Outbox(tmp_path / "outbox.sqlite3")
    try:
        sender = start(box, backoff_max_s=30.0)
        assert _wait(lambda: sender.fatal is not None, 10)
        assert sender.fatal.code == 4401 and "re-enroll" in str(sender.fatal)
    finally:
        cloud.stop()
    good = FakeCloud(port, _public_b64(key))  # positive control: the device's own key
    try:
        box2 = Outbox(tmp_path / "outbox2.sqlite3")
        box2.put(_status(0))
        ok = start(box2)
        assert _wait(lambda: box2.pending() == 0) and ok.fatal is None and ok.state == "connected"
    finally:
        good.stop()


def test_commands_and_config_pushes_go_to_the_callbacks(link, tmp_path):
    data_dir, port, key, start = link
    cmd = Command(command_id="c-1", action="reload")
    cloud = FakeCloud(port, _public_b64(key), send_after_welcome=[
        cmd.model_dump_json(), '{"type": "nonsense"}',  # an invalid frame is logged and ignored
        '{"v":2,"type":"config","version":3,"key_id":"k1","payload":"{}","signature":"c2ln"}'])
    got: list = []
    try:
        start(Outbox(), on_command=got.append, on_config=lambda c: got.append(c.version))
        assert _wait(lambda: len(got) == 2, 10)
    finally:
        cloud.stop()
    assert got == [cmd, 3]


def test_a_missing_enrollment_is_a_clear_error(tmp_path):
    with pytest.raises(EdgeError, match="device.json not found"):
        load_device(tmp_path / "nothing")
    _enroll(tmp_path / "ok", 1)
    assert load_device(tmp_path / "ok").device_id == DEVICE_ID  # positive control
    (tmp_path / "ok" / "device_key.pem").write_text("garbage")
    with pytest.raises(EdgeError, match="device_key.pem"):
        load_device(tmp_path / "ok")


def test_vad_edge_run_streams_to_the_cloud_and_stops_cleanly_on_sigterm(tmp_path):
    port = _free_port()
    key = _enroll(tmp_path / "dev", port)
    cfg = tmp_path / "agent.json"
    cfg.write_text(json.dumps({"cameras": [{"id": "7", "source": "sim:3", "fps": 10, "scene": "parking",
                                            "models": [{"type": "zone_rules"}]}]}))
    cloud = FakeCloud(port, _public_b64(key))
    try:
        proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--data-dir", str(tmp_path / "dev"),
                                 "--config", str(cfg), "--all", "--heartbeat-s", "0.5"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert _wait(lambda: any(m["type"] == "heartbeat" for m in cloud.committed), 60), proc.poll()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        cloud.stop()
    assert proc.returncode == 0, err
    assert out == ""  # streamed, not printed
    types = [m["type"] for m in cloud.committed]
    assert types[0] == "stream_status" and "heartbeat" in types
    beat = next(m for m in cloud.committed if m["type"] == "heartbeat")
    assert beat["cameras"][0]["camera_id"] == "7" and "outbox_depth" in beat
    seqs = [m["seq"] for m in cloud.committed]
    assert seqs == sorted(set(seqs))
    left = Outbox(tmp_path / "dev" / "outbox.sqlite3")  # default outbox place; flushed on SIGTERM
    assert left.pending() == 0


def test_an_enrolled_box_without_cameras_stays_online_with_heartbeats_until_sigterm(tmp_path):
    port = _free_port()
    cloud_key = Ed25519PrivateKey.generate()  # the cloud's config signing key, known from enrollment
    key = _enroll(tmp_path / "dev", port, config_keys={"k1": _public_b64(cloud_key)})
    payload = json.dumps({"schema": 1, "device_id": DEVICE_ID, "cameras": [], "shifts": [], "model_bundles": [],
                          "site": {"id": "1", "name": "Yard", "timezone": "UTC", "jurisdiction": "US-IL"},
                          "privacy_policy": {"jurisdiction": "US-IL", "forbidden_capabilities": []}},
                         sort_keys=True, separators=(",", ":"))
    push = ConfigPush(version=3, key_id="k1", payload=payload,
                      signature=base64.b64encode(cloud_key.sign(payload.encode())).decode())
    forged = push.model_copy(update={"version": 4, "signature": base64.b64encode(b"x" * 64).decode()})
    cloud = FakeCloud(port, _public_b64(key), send_after_welcome=[push.model_dump_json(), forged.model_dump_json()])
    env = {**os.environ, "VAD_EDGE_DATA_DIR": str(tmp_path / "dev")}  # the default data dir, as the service has it
    try:
        proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--heartbeat-s", "0.2"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert _wait(lambda: any(m.get("config_version") == 3 for m in cloud.committed), 60), proc.poll()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        cloud.stop()
    assert proc.returncode == 0 and out == "", err
    assert "no cameras configured" in err
    assert all(m["type"] == "heartbeat" and m["cameras"] == [] for m in cloud.committed)
    # the signed config was verified and kept (the forged one refused, logged): the heartbeat says which
    assert json.loads((tmp_path / "dev" / "config.json").read_text())["version"] == 3
    assert "config push refused" in err and len(cloud.committed) >= 1


def bench_put_with_a_slow_cloud(n: int = 5000) -> dict[str, float]:
    """Camera-thread put throughput with no cloud, and with a cloud that holds acks 2 s:
    ``python -m tests.edge_agent.test_sender``."""
    import tempfile

    out: dict[str, float] = {}
    d = Path(tempfile.mkdtemp())
    port = _free_port()
    key = _enroll(d / "dev", port)
    for label, cloud_on in (("no_cloud", False), ("slow_cloud_2s_acks", True)):
        cloud = FakeCloud(port, _public_b64(key), ack_delay_s=2.0) if cloud_on else None
        box = Outbox(d / f"{label}.sqlite3")
        sender = Sender(box, load_device(d / "dev"), backoff_min_s=0.05, backoff_max_s=0.5).start()
        if cloud_on:
            sender.connected.wait(10)
        t0 = time.perf_counter()
        for i in range(n):
            box.put(_status(i))
        dt = time.perf_counter() - t0
        out[f"{label}_puts_per_s"] = round(n / dt)
        out[f"{label}_us_per_put"] = round(dt / n * 1e6, 1)
        sender.stop(flush_timeout_s=0.2)
        if cloud is not None:
            cloud.stop()
    return out


def bench_put_to_ack_latency(n: int = 200) -> dict[str, float]:
    """One message at a time: put -> on the wire -> acked -> deleted, against the local fake cloud."""
    import tempfile

    d = Path(tempfile.mkdtemp())
    port = _free_port()
    key = _enroll(d / "dev", port)
    cloud = FakeCloud(port, _public_b64(key))
    box = Outbox(d / "latency.sqlite3")
    sender = Sender(box, load_device(d / "dev")).start()
    sender.connected.wait(10)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        box.put(_status(i))
        while box.pending():
            time.sleep(0.0002)
        lat.append((time.perf_counter() - t0) * 1000)
    sender.stop(flush_timeout_s=0.5)
    cloud.stop()
    lat.sort()
    return {"put_to_ack_p50_ms": round(lat[n // 2], 2), "put_to_ack_p99_ms": round(lat[int(n * 0.99)], 2)}


if __name__ == "__main__":
    print(json.dumps({**bench_put_with_a_slow_cloud(), **bench_put_to_ack_latency()}))
