"""Shared fixtures of the edge-link reliability tests: real daphne processes on a throwaway database,
enrolled devices (real Ed25519 keys in the agent's data-dir format) and a fault-injecting TCP proxy.

Everything binds to 127.0.0.1; every wait is bounded; every process and thread started here is
stopped in the fixture's teardown.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

SETUP = """
import json
from django.utils import timezone
from cameras.models import Camera, EdgeDevice
from tenants.models import Site, Tenant
from tenants.scope import tenant_scope
tenant = Tenant.objects.create(slug=SLUG, name="Edge link " + SLUG)
out = []
with tenant_scope(tenant.id):
    site = Site.objects.create(name="HQ", jurisdiction="US-IL", timezone="America/Chicago")
    for i, key in enumerate(KEYS):
        device = EdgeDevice.objects.create(site=site, name=f"box-{i}", public_key=key, enrolled_at=timezone.now())
        camera = Camera.objects.create(site=site, device=device, name=f"cam-{i}")
        out.append({"device": device.id, "camera": camera.id, "tenant": tenant.id})
print(json.dumps(out))
"""

COUNT = """
import json
from django.db import connection
from tenants.scope import tenant_scope
with tenant_scope(TENANT):
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM detection_alert WHERE device_id = %s", [DEVICE])
        n, distinct = cur.fetchone()
print(json.dumps({"alerts": n, "distinct": distinct}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


# --------------------------------------------------------------------------------------------- database
@dataclass
class FaultDB:
    url: str
    env: dict[str, str]

    def manage(self, *args: str, timeout: float = 120) -> str:
        out = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=timeout,
                             capture_output=True, text=True)
        return out.stdout

    def shell(self, code: str, timeout: float = 60) -> Any:
        return json.loads(self.manage("shell", "-c", code, timeout=timeout).strip().splitlines()[-1])

    def alert_counts(self, tenant_id: int, device_id: int) -> dict[str, int]:
        return self.shell(COUNT.replace("TENANT", str(tenant_id)).replace("DEVICE", str(device_id)))


@pytest.fixture(scope="session")
def fault_db() -> Iterator[FaultDB]:
    """A throwaway database for subprocess servers: a new PostgreSQL database on the session's server when
    DATABASE_URL is postgres (dropped at the end), else a SQLite file in /tmp (deleted at the end)."""
    session_url = os.environ.get("DATABASE_URL", "")
    parsed = urlparse(session_url)
    pg = parsed.scheme in {"postgres", "postgresql", "pgsql"}
    name = f"vad_fault_{uuid.uuid4().hex[:12]}"
    db_file = Path("/tmp") / f"{name}.sqlite3"
    if pg:
        import psycopg  # noqa: PLC0415 - only with PostgreSQL

        admin = urlunparse(parsed._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urlunparse(parsed._replace(path=f"/{name}"))
    else:
        url = f"sqlite:///{db_file}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "vadcloud.settings",
           "CELERY_TASK_ALWAYS_EAGER": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)  # one server process at a time: the in-memory channel layer is enough
    db = FaultDB(url=url, env=env)
    try:
        db.manage("migrate", "--noinput", "-v", "0", timeout=300)
        yield db
    finally:
        if pg:
            import psycopg  # noqa: PLC0415

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- server
class Server:
    """``daphne vadcloud.asgi:application`` on 127.0.0.1:``port``; kill() is SIGKILL, start() again reuses the port."""

    def __init__(self, db: FaultDB, port: int | None = None) -> None:
        self.db, self.port = db, port or free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/edge/"

    def start(self, timeout: float = 60) -> Server:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen([str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port),
                                      "vadcloud.asgi:application"], cwd=ROOT, env=self.db.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1

        def listening() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daphne on port {self.port} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_for(listening, timeout, f"daphne to listen on {self.port}", interval=0.1)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def server_factory(fault_db: FaultDB) -> Iterator[Any]:
    servers: list[Server] = []

    def make(port: int | None = None) -> Server:
        servers.append(Server(fault_db, port))
        return servers[-1]

    yield make
    for s in servers:
        s.kill()


# --------------------------------------------------------------------------------------------- devices
@dataclass
class EnrolledDevice:
    device_id: int
    camera_id: int
    tenant_id: int
    data_dir: Path
    public_key: str

    def point_at(self, ws_url: str) -> None:
        """Rewrite device.json's ws_url / cloud_url (the agent reads them at each connect)."""
        path = self.data_dir / "device.json"
        data = json.loads(path.read_text())
        data["ws_url"] = ws_url
        data["cloud_url"] = ws_url.replace("ws://", "http://").removesuffix("/ws/edge/")
        path.write_text(json.dumps(data, indent=2) + "\n")


def _write_data_dir(data_dir: Path, key: Ed25519PrivateKey, device_id: int, ws_url: str) -> None:
    """What ``vad-edge enroll`` writes: device_key.pem (PKCS8 PEM, 0600) and device.json."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pem = data_dir / "device_key.pem"
    pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    pem.chmod(0o600)
    (data_dir / "device.json").write_text(json.dumps({
        "device_id": device_id, "cloud_url": ws_url.replace("ws://", "http://").removesuffix("/ws/edge/"),
        "ws_url": ws_url, "config_keys": {}}, indent=2) + "\n")


@pytest.fixture
def enroll_devices(fault_db: FaultDB, tmp_path: Path) -> Any:
    """``enroll_devices(n)``: n devices (each with one camera) of a new tenant, enrolled with real keys."""

    def make(n: int = 1) -> list[EnrolledDevice]:
        keys = [Ed25519PrivateKey.generate() for _ in range(n)]
        publics = [base64.b64encode(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode() for k in keys]
        slug = f"edge-{uuid.uuid4().hex[:10]}"
        rows = fault_db.shell(SETUP.replace("SLUG", repr(slug)).replace("KEYS", repr(publics)))
        out = []
        for key, public, row in zip(keys, publics, rows, strict=True):
            data_dir = tmp_path / f"device-{row['device']}"
            _write_data_dir(data_dir, key, row["device"], "ws://127.0.0.1:9/ws/edge/")
            out.append(EnrolledDevice(row["device"], row["camera"], row["tenant"], data_dir, public))
        return out

    return make


# --------------------------------------------------------------------------------------------- proxy
class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream_port``.

    * ``cuts``: byte offsets (counted over all agent->server bytes of all connections); when the
      forwarded total crosses one, the chunk is forwarded only up to that byte (so the cut lands
      wherever it falls, usually inside a frame) and both sockets are closed.
    * ``cuts_down``: the same over the server->agent bytes (a cut inside an ack: committed, never acked).
    * ``delay_down_s``: every server->agent byte is held that long before it is forwarded.
    """

    def __init__(self, upstream_port: int, *, cuts: list[int] | None = None, cuts_down: list[int] | None = None,
                 delay_down_s: float = 0.0) -> None:
        assert not (cuts_down and delay_down_s), "cuts_down and delay_down_s do not mix"
        self.upstream_port = upstream_port
        self.cuts = sorted(cuts or [])
        self.cuts_down = sorted(cuts_down or [])
        self.cut_down_count = 0
        self.cut_down_tails: list[bytes] = []  # the last bytes forwarded before each server->agent cut
        self.delay_down_s = delay_down_s
        self.up_bytes = 0
        self.down_bytes = 0
        self.cut_count = 0
        self.cut_mid_chunk = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._spawn(self._accept)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/edge/"

    def _spawn(self, fn: Any, *args: Any) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._socks += [client, upstream]
            pair = (client, upstream)
            self._spawn(self._up, pair)
            self._spawn(self._down, pair)

    @staticmethod
    def _close(pair: tuple[socket.socket, socket.socket]) -> None:
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _up(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        client.settimeout(0.5)
        while not self._stop.is_set():
            try:
                data = client.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            with self._lock:
                start = self.up_bytes
                cut = next((c for c in self.cuts if start < c <= start + len(data)), None)
                if cut is not None:
                    self.cuts.remove(cut)
                    # a websocket client writes each frame in one send: a cut inside a chunk is inside a frame
                    self.cut_mid_chunk += cut < start + len(data)
                    data = data[: cut - start]
                self.up_bytes += len(data)
            try:
                upstream.sendall(data)
            except OSError:
                break
            if cut is not None:
                with self._lock:
                    self.cut_count += 1
                break
        self._close(pair)

    def _down(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        upstream.settimeout(0.5)
        pending: list[tuple[float, bytes]] = []
        while not self._stop.is_set():
            try:
                data = upstream.recv(65536)
            except TimeoutError:
                data = None
            except OSError:
                break
            if data == b"":
                break
            cut = None
            if data:
                with self._lock:
                    start = self.down_bytes
                    cut = next((c for c in self.cuts_down if start < c <= start + len(data)), None)
                    if cut is not None:
                        self.cuts_down.remove(cut)
                        data = data[: cut - start]
                        self.cut_down_count += 1
                        self.cut_down_tails.append(data[-120:])
                pending.append((time.monotonic() + self.delay_down_s, data))
            try:
                while pending and (self.delay_down_s == 0 or pending[0][0] <= time.monotonic()):
                    client.sendall(pending.pop(0)[1])
                    # (delayed chunks wait for the next loop turn; recv's timeout bounds the lag)
            except OSError:
                break
            try:  # the up direction may have closed the pair meanwhile (a cut): then this one ends too
                if pending and self.delay_down_s:
                    time.sleep(max(0.0, min(0.05, pending[0][0] - time.monotonic())))
                    upstream.settimeout(0.02)
                else:
                    upstream.settimeout(0.5)
            except OSError:
                break
            with self._lock:
                self.down_bytes += len(data or b"")
            if cut is not None:
                break
        self._close(pair)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)


@pytest.fixture
def proxy_factory() -> Iterator[Any]:
    proxies: list[FaultProxy] = []

    def make(upstream_port: int, **kwargs: Any) -> FaultProxy:
        proxies.append(FaultProxy(upstream_port, **kwargs))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()


def random_cuts(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return sorted(rng.sample(range(lo, hi), n))
