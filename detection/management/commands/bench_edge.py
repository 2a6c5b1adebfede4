"""``python manage.py bench_edge``: the edge link under load, on the database and channel layer
this process is configured with (run it with DATABASE_URL + REDIS_URL for the headline figures).

It starts one real ASGI process (daphne) on 127.0.0.1, creates a throw-away bench tenant with
enrolled devices (real Ed25519 keys), drives ``/ws/edge/`` and ``ws/alerts/`` with websocket
clients from this process, and prints:

- sustained durable ingest (acked after commit), one event per message and batched;
- p99 ack latency at 60% of the measured single-event rate;
- portal fan-out: every event reaches every subscribed portal client, p50/p99 event-to-portal;
- concurrent devices with heartbeats on one process and the server's memory per connection;
- wire bytes per second per camera for a busy simulated scene (the real agent pipeline);
- camera-to-alert latency on the demo path: a real ``vad-edge run`` (enrolled with a token, the
  simulated busy scene in real time) streams to the server; for each alert, the time it reaches a
  portal socket minus the wall clock of the frame that opened it (``started_at`` of an open is
  that frame's capture time).

Figures are medians over ``--repeats`` runs. Everything targets 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from cameras.models import Camera, DeviceStatus, EdgeDevice
from detection.models import Alert
from edge_agent.protocol import Batch, EventOpen, Heartbeat, Hello, ModelVote, challenge_bytes
from tenants.middleware import SESSION_TENANT_KEY
from tenants.models import Membership, Role, Site, Tenant
from tenants.scope import tenant_scope
from vadcloud.health import wait_until_healthy

ROOT = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class BenchDevice:
    device_id: int
    camera_id: int
    key: Ed25519PrivateKey
    seq: int = 0


@dataclass
class World:
    tenant_id: int
    devices: list[BenchDevice]
    session_key: str
    extra: list[BenchDevice] = field(default_factory=list)


def _make_world(n_senders: int, n_idle: int) -> World:
    """A bench tenant with ``n_senders`` devices owning one camera each, ``n_idle`` devices for
    the concurrency test, and an admin with a portal session."""
    stamp = uuid.uuid4().hex[:10]
    tenant = Tenant.objects.create(name=f"Bench {stamp}", slug=f"bench-{stamp}")
    user = get_user_model().objects.create_user(username=f"bench-{stamp}", password=secrets.token_urlsafe(16))
    with tenant_scope(tenant.id):
        Membership.objects.create(user=user, role=Role.ADMIN)
        site = Site.objects.create(name="Bench site", jurisdiction="DE", timezone="UTC")

        def enrolled(n: int, with_camera: bool) -> list[BenchDevice]:
            keys = [Ed25519PrivateKey.generate() for _ in range(n)]
            now = timezone.now()
            rows = EdgeDevice.objects.bulk_create([
                EdgeDevice(tenant_id=tenant.id, site=site, name=f"{'box' if with_camera else 'idle'}-{i}",
                           status=DeviceStatus.OFFLINE, enrolled_at=now,
                           public_key=base64.b64encode(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode())
                for i, k in enumerate(keys)
            ])
            out = []
            for row, key in zip(rows, keys, strict=True):
                cam_id = 0
                if with_camera:
                    cam_id = Camera.objects.create(site=site, device=row, name=f"cam-{row.id}").id
                out.append(BenchDevice(row.id, cam_id, key))
            return out

        senders = enrolled(n_senders, True)
        idle = enrolled(n_idle, False)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session[SESSION_TENANT_KEY] = tenant.id
    session.create()
    return World(tenant.id, senders, session.session_key, idle)


def _server_command(kind: str, port: int) -> list[str]:
    """``daphne`` (what ships), or ``uvicorn[:ws[:loop[:http]]]`` (uvicorn's --ws, --loop and --http;
    default websockets-sansio, asyncio, httptools) to compare one process of another ASGI server
    (uvicorn is not a dependency: install it to use this)."""
    if kind == "daphne":
        return [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port),
                "vadcloud.asgi:application"]
    parts = kind.split(":")
    if parts[0] != "uvicorn" or len(parts) > 4:
        raise CommandError(f"--server {kind!r}: use 'daphne' or 'uvicorn[:ws[:loop[:http]]]', "
                           "e.g. uvicorn:websockets-sansio:uvloop")
    _, ws, loop, http = parts + ["uvicorn", "websockets-sansio", "asyncio", "httptools"][len(parts):]
    return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--ws", ws, "--loop", loop,
            "--http", http, "--no-access-log", "--lifespan", "off", "vadcloud.asgi:application"]


@contextmanager
def _server(port: int, kind: str = "daphne") -> Iterator[subprocess.Popen]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "vadcloud.settings", "PYTHONUNBUFFERED": "1"}
    cmd = _server_command(kind, port)
    log_path = Path(os.environ.get("BENCH_SERVER_LOG", f"/tmp/bench_edge_daphne_{port}.log"))
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_until_healthy(f"http://127.0.0.1:{port}", server=proc, timeout_s=30):
            raise CommandError(f"{kind} did not come up on port {port}; its log: {log_path}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _event(dev: BenchDevice, seq: int) -> EventOpen:
    now = time.time()
    return EventOpen(seq=seq, event_id=str(uuid.uuid4()), camera_id=str(dev.camera_id), peak_ts=now, start_ts=now,
                     peak_score=2.0, votes=2.0, k=2.0, threshold=1.0, frame_index=seq, wall_ts=now,
                     models=[ModelVote(model="flow", type="flow", score=2.0, voted=True)])


async def _handshake(ws: Any, dev: BenchDevice) -> int:
    challenge = json.loads(await ws.recv())
    signature = dev.key.sign(challenge_bytes(challenge["nonce"], dev.device_id))
    hello = Hello(device_id=dev.device_id, agent_version="bench", signature=base64.b64encode(signature).decode())
    await ws.send(hello.model_dump_json())
    welcome = json.loads(await ws.recv())
    if welcome.get("type") != "welcome":
        raise CommandError(f"device {dev.device_id} was not welcomed: {welcome}")
    return int(welcome["last_seq"])


async def _stream(url: str, dev: BenchDevice, *, n_events: int, batch: int, window: int,
                  rate: float | None) -> tuple[int, list[float], float]:
    """Send ``n_events`` events (``batch`` per frame, at most ``window`` unacked), paced to
    ``rate`` events/s if given. Returns (acked events, ack latencies in s, elapsed s)."""
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, open_timeout=30) as ws:
        dev.seq = max(dev.seq, await _handshake(ws, dev))
        sent_at: dict[int, float] = {}
        latencies: list[float] = []
        acked = dev.seq
        first = dev.seq
        last = dev.seq + n_events
        room = asyncio.Event()
        room.set()
        done = asyncio.Event()

        async def reader() -> None:
            nonlocal acked
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") != "ack":
                    continue
                now = time.perf_counter()
                for seq in range(acked + 1, int(msg["seq"]) + 1):
                    t = sent_at.pop(seq, None)
                    if t is not None:
                        latencies.append(now - t)
                acked = max(acked, int(msg["seq"]))
                if acked - first >= n_events:
                    done.set()
                    return
                if dev.seq - acked < window:
                    room.set()

        task = asyncio.create_task(reader())
        started = time.perf_counter()
        while dev.seq < last:
            if dev.seq - acked >= window:
                room.clear()
                await room.wait()
                continue
            size = min(batch, last - dev.seq)
            events = [_event(dev, dev.seq + i + 1) for i in range(size)]
            if rate is not None:
                due = started + (dev.seq - first + size) / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            now = time.perf_counter()
            for e in events:
                sent_at[e.seq] = now  # type: ignore[index]
            frame = events[0].model_dump_json() if size == 1 else Batch(messages=events).model_dump_json()
            await ws.send(frame)
            dev.seq += size
        await asyncio.wait_for(done.wait(), timeout=120)
        elapsed = time.perf_counter() - started
        task.cancel()
        return acked - first, latencies, elapsed


async def _ingest(url: str, world: World, *, total: int, batch: int, rate: float | None) -> dict[str, float]:
    per = total // len(world.devices)
    window = 200 if batch == 1 else 20 * batch
    per_rate = rate / len(world.devices) if rate else None
    results = await asyncio.gather(*(_stream(url, d, n_events=per, batch=batch, window=window, rate=per_rate)
                                     for d in world.devices))
    events = sum(r[0] for r in results)
    elapsed = max(r[2] for r in results)
    latencies = [x for r in results for x in r[1]]
    return {"events": events, "eps": events / elapsed, "p50_ms": _pct(latencies, 50) * 1000,
            "p99_ms": _pct(latencies, 99) * 1000}


async def _fanout(edge_url: str, portal_url: str, world: World, *, clients: int, rate: float,
                  seconds: float) -> dict[str, float]:
    from websockets.asyncio.client import connect

    cookie = f"sessionid={world.session_key}"
    headers = {"Cookie": cookie, "Origin": portal_url.replace("ws://", "http://").split("/ws/")[0]}
    received: list[dict[int, float]] = [{} for _ in range(clients)]
    sockets = [await connect(portal_url, additional_headers=headers, max_size=None) for _ in range(clients)]
    for ws in sockets:
        hello = json.loads(await ws.recv())
        if hello.get("type") != "hello":
            raise CommandError(f"portal socket refused: {hello}")

    async def listen(i: int, ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            alerts = msg.get("alerts") or ([msg["alert"]] if "alert" in msg else [])
            now = time.time()
            for alert in alerts:
                received[i].setdefault(alert["id"], now)

    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(sockets)]
    n = int(rate * seconds)
    before = await asyncio.to_thread(_alert_ids, world.tenant_id)
    await _ingest(edge_url, world, total=n, batch=1, rate=rate)
    await asyncio.sleep(2.0)  # let the last pushes arrive
    sent = await asyncio.to_thread(_alert_sent_times, world.tenant_id, before)

    def missing() -> int:
        return sum(1 for r in received for aid in sent if aid not in r)

    in_grace = missing()
    ends = time.monotonic() + LATE_WAIT_S  # late or lost: wait longer for what has not arrived
    while missing() and time.monotonic() < ends:
        await asyncio.sleep(0.1)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    lat = [received[i][aid] - t for i in range(clients) for aid, t in sent.items() if aid in received[i]]
    got = min(sum(1 for aid in sent if aid in r) for r in received)
    lost = missing()
    return {"events": len(sent), "clients": clients, "min_received": got, "p50_ms": _pct(lat, 50) * 1000,
            "p99_ms": _pct(lat, 99) * 1000, "late": in_grace - lost, "lost": lost}


LATE_WAIT_S = 10.0  # after the 2 s grace, how long the fan-out run waits for pushes still missing


def _alert_ids(tenant_id: int) -> set[int]:
    with tenant_scope(tenant_id):
        return set(Alert.objects.values_list("id", flat=True))


def _alert_sent_times(tenant_id: int, before: set[int]) -> dict[int, float]:
    """Alert id -> the agent's wall clock when it sent the event (started_at comes from wall_ts)."""
    with tenant_scope(tenant_id):
        rows = Alert.objects.exclude(id__in=before).values_list("id", "started_at")
        return {aid: started.timestamp() for aid, started in rows}


async def _concurrency(url: str, world: World, pid: int, *, hold_s: float, heartbeat_s: float) -> dict[str, float]:
    from websockets.asyncio.client import connect

    rss_before = _rss_kib(pid)
    sockets = []
    for i in range(0, len(world.extra), 100):  # open in waves of 100
        chunk = world.extra[i:i + 100]
        opened = await asyncio.gather(*(connect(url, open_timeout=60) for _ in chunk))
        await asyncio.gather(*(_handshake(ws, dev) for ws, dev in zip(opened, chunk, strict=True)))
        sockets.extend(zip(opened, chunk, strict=True))
    rss_open = _rss_kib(pid)
    beats = 0
    ends = time.monotonic() + hold_s

    async def beat(ws: Any, dev: BenchDevice) -> None:
        nonlocal beats
        await asyncio.sleep(secrets.randbelow(1000) / 1000 * heartbeat_s)
        while time.monotonic() < ends:
            dev.seq += 1
            await ws.send(Heartbeat(seq=dev.seq, ts=time.time(), agent_version="bench").model_dump_json())
            beats += 1
            await asyncio.sleep(heartbeat_s)

    async def drain(ws: Any) -> None:
        async for _ in ws:
            pass

    drains = [asyncio.create_task(drain(ws)) for ws, _ in sockets]
    await asyncio.gather(*(beat(ws, dev) for ws, dev in sockets))
    alive = sum(1 for ws, _ in sockets if ws.state.name == "OPEN")
    for task in drains:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws, _ in sockets), return_exceptions=True)
    return {"devices": len(sockets), "alive": alive, "heartbeats": beats,
            "rss_mib": rss_open / 1024, "kib_per_connection": (rss_open - rss_before) / max(1, len(sockets))}


def _fit_bundle(tmp: Path) -> Path:
    """A model bundle fitted on simulated normal footage (what ``make demo`` ships)."""
    vad_edge = str(Path(sys.executable).with_name("vad-edge"))
    normal, bundle = tmp / "normal", tmp / "bundle.tar.gz"
    subprocess.run([sys.executable, "-m", "edge_agent.sim", "--out", str(normal), "--frames", "600", "--seed", "1",
                    "--normal"], check=True, capture_output=True, timeout=300)
    subprocess.run([vad_edge, "train", "--source", str(normal), "--scene", "parking", "--out", str(bundle),
                    "--quiet"], check=True, capture_output=True, timeout=600)
    return bundle


def _wire_bytes_per_camera(seconds: int, bundle: Path) -> dict[str, float]:
    """Run the real agent pipeline for ``seconds`` of a busy simulated scene, in real time (so the
    heartbeats come at their real rate), and size every message it would send."""
    vad_edge = str(Path(sys.executable).with_name("vad-edge"))
    out = subprocess.run([vad_edge, "run", "--source", "sim:11", "--scene", "parking", "--fps", "10",
                          "--bundle", str(bundle), "--max-frames", str(seconds * 10), "--health-every", "10"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return {"error": 1.0}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    total = sum(len(ln.encode()) for ln in lines)
    return {"messages": len(lines), "bytes_per_s": total / seconds}


LATENCY_CAMERAS = 3  # simulated cameras on the latency box (sim:11, sim:12, ...)


def _latency_device(world: World) -> tuple[int, list[int], str]:
    """A device with LATENCY_CAMERAS cameras in the bench tenant and a one-time enrollment token."""
    from cameras.services import device_enrollment_token_create

    with tenant_scope(world.tenant_id):
        member = Membership.objects.get(role=Role.ADMIN)
        site = Site.objects.get()
        device = EdgeDevice.objects.create(site=site, name="latency-box")
        cameras = [Camera.objects.create(site=site, device=device, name=f"latency-cam-{i}").id
                   for i in range(LATENCY_CAMERAS)]
        _, token = device_enrollment_token_create(member=member, device_id=device.id)
    return device.id, cameras, token


async def _camera_to_alert(base_url: str, portal_url: str, world: World, bundle: Path, tmp: Path, *,
                           seconds: int) -> dict[str, float]:
    from websockets.asyncio.client import connect

    vad_edge = str(Path(sys.executable).with_name("vad-edge"))
    _, camera_ids, token = await asyncio.to_thread(_latency_device, world)
    data_dir = tmp / "edge"
    enrolled = await asyncio.to_thread(subprocess.run, [vad_edge, "enroll", "--url", base_url, "--token", token,
                                                        "--data-dir", str(data_dir)], capture_output=True, text=True)
    if enrolled.returncode != 0:
        raise CommandError(f"vad-edge enroll failed: {enrolled.stderr.strip()}")
    config = tmp / "agent.json"
    config.write_text(json.dumps({"cameras": [{"id": str(cid), "source": f"sim:{11 + i}", "fps": 10, "scene": "parking",
                                               "bundle": str(bundle)} for i, cid in enumerate(camera_ids)]}))
    headers = {"Cookie": f"sessionid={world.session_key}", "Origin": base_url}
    first_seen: dict[int, tuple[float, str]] = {}
    async with connect(portal_url, additional_headers=headers, max_size=None) as ws:
        if json.loads(await ws.recv()).get("type") != "hello":
            raise CommandError("portal socket refused")
        log = (tmp / "agent.log").open("wb")
        agent = await asyncio.create_subprocess_exec(
            vad_edge, "run", "--config", str(config), "--all", "--data-dir", str(data_dir), stdout=log, stderr=log)

        async def listen() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                now = time.time()
                for alert in msg.get("alerts") or ([msg["alert"]] if "alert" in msg else []):
                    if alert.get("camera") in camera_ids:
                        first_seen.setdefault(alert["id"], (now, alert["started_at"]))

        listener = asyncio.create_task(listen())
        await asyncio.sleep(seconds)
        agent.terminate()  # SIGTERM: the agent closes its open events and flushes its outbox
        try:
            await asyncio.wait_for(agent.wait(), timeout=60)
        except TimeoutError:
            agent.kill()
        await asyncio.sleep(1.0)
        listener.cancel()
        log.close()
    from django.utils.dateparse import parse_datetime

    lat = [(seen - parse_datetime(started).timestamp()) * 1000 for seen, started in first_seen.values()]  # type: ignore[union-attr]
    return {"alerts": len(lat), "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}


class Command(BaseCommand):
    help = "Benchmark the edge link (ingest, ack latency, fan-out, concurrent devices, wire bytes)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--events", type=int, default=6000, help="events per ingest run")
        parser.add_argument("--batch", type=int, default=100, help="events per frame in the batched run")
        parser.add_argument("--senders", type=int, default=4, help="devices streaming at once")
        parser.add_argument("--devices", type=int, default=2000, help="concurrent devices with heartbeats")
        parser.add_argument("--hold", type=float, default=20.0, help="seconds the concurrent devices stay")
        parser.add_argument("--fanout-clients", type=int, default=5)
        parser.add_argument("--fanout-rate", type=float, default=500.0)
        parser.add_argument("--repeats", type=int, default=3)
        parser.add_argument("--latency-seconds", type=int, default=120, help="seconds of the demo-path agent run")
        parser.add_argument("--skip", nargs="*", default=[],
                            choices=["ingest", "fanout", "devices", "wire", "latency"])
        parser.add_argument("--ingest-runs", nargs="*", default=["single", "batched", "paced"],
                            choices=["single", "batched", "paced"], help="which ingest runs to make")
        parser.add_argument("--server", default="daphne",
                            help="the ASGI server of the one process: daphne (shipped) or "
                                 "uvicorn[:ws[:loop[:http]]] (installed separately), for comparison")
        parser.add_argument("--ack-rate", type=float, default=None,
                            help="events/s of the ack-latency run (default: 60%% of the single-event rate)")

    def handle(self, *args: Any, **opts: Any) -> None:
        _server_command(opts["server"], 0)  # refuses an unknown --server before anything runs
        vendor = connection.vendor
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
        self.stdout.write(f"bench_edge: database {vendor}, channel layer {layer}, one {opts['server']} process on "
                          "127.0.0.1")
        if vendor != "postgresql" or "Redis" not in layer:
            self.stdout.write("  note: the headline figures are for PostgreSQL + Redis (DATABASE_URL, REDIS_URL)")
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            bundle = _fit_bundle(Path(tmp)) if {"wire", "latency"} - set(opts["skip"]) else Path(tmp)
            if {"ingest", "fanout", "devices", "latency"} - set(opts["skip"]):
                self._link(opts, bundle, Path(tmp))
            if "wire" not in opts["skip"]:
                res = _wire_bytes_per_camera(60, bundle)
                if "error" in res:
                    self.stdout.write("wire bytes: the agent run failed (see `vad-edge run --source sim:11:asap`)")
                else:
                    self.stdout.write(f"wire bytes per camera, busy simulated scene, 60 s: {res['messages']:.0f} "
                                      f"messages, {res['bytes_per_s']:.0f} B/s (1080p video: 4-8 Mbit/s = "
                                      "500-1000 KB/s)")

    def _link(self, opts: dict[str, Any], bundle: Path, tmp: Path) -> None:
        world = _make_world(opts["senders"], opts["devices"] if "devices" not in opts["skip"] else 0)
        port = _free_port()
        os.environ["PORTAL_BASE_URL"] = f"http://127.0.0.1:{port}"  # where enrolling devices are told to connect
        edge_url, portal_url = f"ws://127.0.0.1:{port}/ws/edge/", f"ws://127.0.0.1:{port}/ws/alerts/"
        with _server(port, opts["server"]) as proc:
            if "ingest" not in opts["skip"]:
                self._ingest(edge_url, world, opts, proc.pid)
            if "fanout" not in opts["skip"]:
                res = asyncio.run(_fanout(edge_url, portal_url, world, clients=opts["fanout_clients"],
                                          rate=opts["fanout_rate"], seconds=10))
                self.stdout.write(
                    f"fan-out at {opts['fanout_rate']:.0f} events/s to {res['clients']} portal clients: "
                    f"{res['events']} events, every client got >= {res['min_received']} ({res['late']} pushes "
                    f"later than the 2 s grace, {res['lost']} not arrived {LATE_WAIT_S:.0f} s after it); "
                    f"event-to-portal p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms")
            if "devices" not in opts["skip"] and world.extra:
                res = asyncio.run(_concurrency(edge_url, world, proc.pid, hold_s=opts["hold"], heartbeat_s=10.0))
                self.stdout.write(
                    f"concurrent devices: {res['alive']}/{res['devices']} connected and heartbeating every 10 s "
                    f"({res['heartbeats']} heartbeats in {opts['hold']:.0f} s); server RSS {res['rss_mib']:.0f} MiB, "
                    f"{res['kib_per_connection']:.0f} KiB per connection")
            if "latency" not in opts["skip"]:
                res = asyncio.run(_camera_to_alert(f"http://127.0.0.1:{port}", portal_url, world, bundle, tmp,
                                                   seconds=opts["latency_seconds"]))
                self.stdout.write(
                    f"camera-to-alert latency, demo path (real agent, {LATENCY_CAMERAS} simulated cameras in real "
                    f"time, {opts['latency_seconds']} s): {res['alerts']} alerts; frame to portal socket "
                    f"p50 {res['p50_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms")

    def _ingest(self, url: str, world: World, opts: dict[str, Any], pid: int) -> None:
        """Each run also reports the server's CPU time per event (all its threads, from /proc):
        unlike events/s it hardly moves when other work shares the machine's cores."""

        def run(total: int, batch: int, rate: float | None) -> dict[str, float]:
            cpu = _cpu_s(pid)
            res = asyncio.run(_ingest(url, world, total=total, batch=batch, rate=rate))
            res["cpu_us"] = (_cpu_s(pid) - cpu) / max(1, res["events"]) * 1e6
            return res

        wanted = opts["ingest_runs"]
        runs: dict[str, list[dict[str, float]]] = {"single": [], "batched": []}
        for _ in range(opts["repeats"]):
            if "single" in wanted or ("paced" in wanted and opts["ack_rate"] is None):
                runs["single"].append(run(opts["events"], 1, None))
            if "batched" in wanted:
                runs["batched"].append(run(opts["events"] * 5, opts["batch"], None))
        for name, rs in runs.items():
            if not rs:
                continue
            eps = statistics.median(r["eps"] for r in rs)
            p99 = statistics.median(r["p99_ms"] for r in rs)
            cpu = statistics.median(r["cpu_us"] for r in rs)
            label = "one event per message" if name == "single" else f"{opts['batch']} events per message"
            self.stdout.write(f"durable ingest, {label}: {eps:,.0f} events/s acked after commit "
                              f"(median of {len(rs)}: {[round(r['eps']) for r in rs]}); ack p99 {p99:.1f} ms at "
                              f"full load; server CPU {cpu:.0f} us/event ({[round(r['cpu_us']) for r in rs]})")
        if "paced" not in wanted:
            return
        rate = opts["ack_rate"] or 0.6 * statistics.median(r["eps"] for r in runs["single"])
        paced = [run(opts["events"], 1, rate) for _ in range(opts["repeats"])]
        self.stdout.write(f"ack latency at {rate:,.0f} events/s"
                          f"{'' if opts['ack_rate'] else ' (60% of the single-event rate)'}: "
                          f"p50 {statistics.median(r['p50_ms'] for r in paced):.1f} ms, "
                          f"p99 {statistics.median(r['p99_ms'] for r in paced):.1f} ms (median of {len(paced)}: "
                          f"{[round(r['p99_ms']) for r in paced]}); server CPU "
                          f"{statistics.median(r['cpu_us'] for r in paced):.0f} us/event")
