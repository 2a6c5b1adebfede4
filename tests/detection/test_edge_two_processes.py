"""Scale-out: an event sent to server process 1 reaches an alert wall connected to process 2.

Two real daphne processes share one SQLite file database and the Redis channel layer
(redis db 5). The device side uses the ``websockets`` library (the agent's client library).
Everything binds to 127.0.0.1, every wait is bounded, both servers are killed in ``finally``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge_agent.protocol import challenge_bytes
from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/5"
IDLE_S = 6.5

SETUP = """
import json
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.utils import timezone
from cameras.models import Camera, EdgeDevice
from tenants.models import Membership, Role, Site, Tenant
from tenants.scope import tenant_scope
tenant = Tenant.objects.create(slug="twoproc", name="Two Proc")
user = get_user_model().objects.create_user(username="wally", password="pw-123456!")
with tenant_scope(tenant.id):
    site = Site.objects.create(name="HQ", jurisdiction="US-IL", timezone="America/Chicago")
    device = EdgeDevice.objects.create(site=site, name="box-1", public_key=PUBLIC_KEY, enrolled_at=timezone.now())
    camera = Camera.objects.create(site=site, device=device, name="Entrance")
    Membership.objects.create(user=user, role=Role.OPERATOR)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(json.dumps({"device": device.id, "camera": camera.id, "session": session.session_key}))
"""


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not redis_reachable(), reason="Redis at 127.0.0.1:6379 is not reachable")
def test_event_sent_to_process_1_reaches_alert_wall_on_process_2() -> None:
    websockets = pytest.importorskip("websockets.asyncio.client")
    db_file = Path("/tmp") / f"vad-twoproc-{uuid.uuid4().hex[:12]}.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_file}", "REDIS_URL": REDIS_URL,
           "DJANGO_SETTINGS_MODULE": "vadcloud.settings", "CELERY_TASK_ALWAYS_EAGER": "1"}
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    procs: list[subprocess.Popen] = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True, timeout=180)
        out = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP.replace("PUBLIC_KEY", repr(public))],
                             cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True)
        ids = json.loads(out.stdout.strip().splitlines()[-1])
        ports = [free_port(), free_port()]
        for port in ports:
            procs.append(subprocess.Popen([str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                           "vadcloud.asgi:application"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port, proc in zip(ports, procs, strict=True):
            wait_for_port(port, proc)

        async def run() -> dict:
            wall_url = f"ws://127.0.0.1:{ports[1]}/ws/alerts/"
            edge_url = f"ws://127.0.0.1:{ports[0]}/ws/edge/"
            async with websockets.connect(wall_url, origin=f"http://127.0.0.1:{ports[1]}",
                                          additional_headers={"Cookie": f"sessionid={ids['session']}"},
                                          open_timeout=10) as wall:
                assert json.loads(await asyncio.wait_for(wall.recv(), 10))["type"] == "hello"
                async with websockets.connect(edge_url, open_timeout=10) as edge:  # a device sends no Origin
                    challenge = json.loads(await asyncio.wait_for(edge.recv(), 10))
                    signature = base64.b64encode(key.sign(challenge_bytes(challenge["nonce"], ids["device"])))
                    await edge.send(json.dumps({"v": 2, "type": "hello", "device_id": ids["device"],
                                                "agent_version": "0.2.0", "signature": signature.decode()}))
                    assert json.loads(await asyncio.wait_for(edge.recv(), 10))["type"] == "welcome"
                    # both sockets idle past redis-py's 5 s default read timeout (which once killed
                    # every idle channel-layer receive with 1011): they must still work after it
                    await asyncio.sleep(IDLE_S)
                    messages = [{"v": 2, "type": "event_open", "seq": seq, "event_id": f"ev-twoproc-{seq:04d}",
                                 "camera_id": str(ids["camera"]), "start_ts": 1.0, "peak_ts": 2.0,
                                 "peak_score": 2.5, "votes": 2, "k": 2, "threshold": 1.0, "frame_index": 20}
                                for seq in range(1, 11)]
                    sent = time.perf_counter()
                    await edge.send(json.dumps({"v": 2, "type": "batch", "messages": messages}))
                    ack = json.loads(await asyncio.wait_for(edge.recv(), 10))
                    acked = time.perf_counter()
                    pushed = json.loads(await asyncio.wait_for(wall.recv(), 10))
                    received = time.perf_counter()
                    # figures only (printed, never asserted): 4 batches of 500 events
                    times = []
                    for n in range(4):
                        base = 100 + n * 500
                        batch = [{**messages[0], "seq": base + i, "event_id": f"ev-bench-{base + i:06d}"}
                                 for i in range(500)]
                        start = time.perf_counter()
                        await edge.send(json.dumps({"v": 2, "type": "batch", "messages": batch}))
                        bench_ack = json.loads(await asyncio.wait_for(edge.recv(), 30))
                        times.append(time.perf_counter() - start)
                        assert bench_ack["seq"] == base + 499
                        await asyncio.wait_for(wall.recv(), 30)  # the coalesced push of that batch
            print(f"\ntwo processes: ack {1000 * (acked - sent):.1f} ms, "
                  f"wall push {1000 * (received - sent):.1f} ms after send (10 events); "
                  f"500-event batches acked in {', '.join(f'{1000 * t:.0f}' for t in times)} ms "
                  f"(~{500 / min(times):.0f} events/s best)")
            return {"ack": ack, "pushed": pushed}

        result = asyncio.run(asyncio.wait_for(run(), 60))
        assert result["ack"]["type"] == "ack" and result["ack"]["seq"] == 10
        assert [r["status"] for r in result["ack"]["results"]] == ["ok"] * 10
        assert result["pushed"]["type"] == "alerts" and len(result["pushed"]["alerts"]) == 10
        assert {a["camera"] for a in result["pushed"]["alerts"]} == {ids["camera"]}
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
