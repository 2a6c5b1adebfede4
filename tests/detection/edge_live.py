"""A real cloud (daphne on 127.0.0.1, throw-away SQLite file) and a real agent process (``vad-edge run``)
for the live-config and command tests. Every wait is bounded; both processes are killed on exit."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

SETUP = """
import json
from django.contrib.auth import get_user_model
from django.utils import timezone
from cameras.edgeconfig import config_public_keys
from cameras.models import Camera, EdgeDevice, Zone
from tenants.models import Membership, Role, Site, Tenant
from tenants.scope import tenant_scope
from tenants.services import api_token_create
tenant = Tenant.objects.create(slug="live-e2e", name="Live E2E")
admin = get_user_model().objects.create_user(username="ada", email="ada@example.com", password="pw-123456!")
with tenant_scope(tenant.id):
    Membership.objects.create(user=admin, role=Role.ADMIN)
    site = Site.objects.create(name="Yard", jurisdiction="US-IL", timezone="America/Chicago")
    device = EdgeDevice.objects.create(site=site, name="box-1", public_key=PUBLIC_KEY, enrolled_at=timezone.now())
    a = Camera.objects.create(site=site, device=device, name="Gate", stream_url="rtsp://10.0.0.5/gate", scene_class="parking")
    b = Camera.objects.create(site=site, device=device, name="Dock", stream_url="rtsp://10.0.0.6/dock", scene_class="parking")
    zone = Zone.objects.create(camera=a, name="Door", kind="intrusion", points=[[0.1, 0.1], [0.6, 0.1], [0.6, 0.6]])
EXTRA_SETUP
_, token = api_token_create(user=admin, name="e2e")
print(json.dumps({"tenant": tenant.id, "device": device.id, "a": a.id, "b": b.id, "zone": zone.id, "token": token,
                  "keys": config_public_keys()}))
"""


@dataclass
class Cloud:
    port: int
    ids: dict[str, Any]
    env: dict[str, str]

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {self.ids['token']}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


@dataclass
class Agent:
    proc: subprocess.Popen
    log_file: Path
    data_dir: Path
    _seen: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> list[dict[str, Any]]:
        text = self.log_file.read_text(encoding="utf-8", errors="replace")
        for raw in text.splitlines()[self._seen:]:
            self._seen += 1
            try:
                self.lines.append(json.loads(raw))
            except json.JSONDecodeError:
                self.lines.append({"event": raw})
        return self.lines

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.read():
                if match(line):
                    return line
            assert self.proc.poll() is None, f"agent exited ({self.proc.returncode}) waiting for {what}: {self.tail()}"
            time.sleep(0.01)
        raise AssertionError(f"no {what} within {timeout}s; agent log tail: {self.tail()}")

    def tail(self) -> str:
        return "\n".join(json.dumps(x) for x in self.read()[-15:])


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


@contextmanager
def cloud_and_agent(tmp_path: Path, local_cameras: Callable[[dict[str, Any]], list[dict[str, Any]]], *,
                    extra_setup: str = "",
                    config_keys: Callable[[dict[str, str]], dict[str, str]] | None = None,
                    ) -> Iterator[tuple[Cloud, Agent]]:
    """Start the cloud, enroll a device with cameras a (zone "Door") and b, and run the agent with
    ``local_cameras(ids)`` as its local config (sources, models).

    ``extra_setup``: Python run in the setup shell after the cameras exist (``tenant``, ``site``,
    ``device``, ``a``, ``b`` and the models are in scope). ``config_keys``: from the cloud's config
    keys, the ones the agent's ``device.json`` holds (e.g. others: a device that cannot verify)."""
    db_file = Path("/tmp") / f"vad-live-e2e-{uuid.uuid4().hex[:12]}.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "VAD_EDGE_DATA_DIR")}
    env.update({"DATABASE_URL": f"sqlite:///{db_file}", "DJANGO_SETTINGS_MODULE": "vadcloud.settings",
                "CELERY_TASK_ALWAYS_EAGER": "1", "EDGE_HEARTBEAT_FLUSH_S": "0"})
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)).decode()
    daphne: subprocess.Popen | None = None
    agent: subprocess.Popen | None = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True, timeout=300)
        out = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP.replace("PUBLIC_KEY", repr(public))
                             .replace("EXTRA_SETUP", extra_setup)],
                             cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True)
        ids = json.loads(out.stdout.strip().splitlines()[-1])
        port = free_port()
        daphne = subprocess.Popen([str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                   "vadcloud.asgi:application"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, daphne)
        data_dir = tmp_path / "dev"
        data_dir.mkdir()
        (data_dir / "device.json").write_text(json.dumps({
            "device_id": ids["device"], "cloud_url": f"http://127.0.0.1:{port}",
            "ws_url": f"ws://127.0.0.1:{port}/ws/edge/",
            "config_keys": ids["keys"] if config_keys is None else config_keys(ids["keys"])}))
        (data_dir / "device_key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        os.chmod(data_dir / "device_key.pem", 0o600)
        cfg = tmp_path / "agent.json"
        cfg.write_text(json.dumps({"cameras": local_cameras(ids)}))
        log_file = tmp_path / "agent.log"
        with log_file.open("wb") as log:
            agent = subprocess.Popen([sys.executable, "-m", "edge_agent", "-v", "run", "--data-dir", str(data_dir),
                                      "--config", str(cfg), "--all", "--heartbeat-s", "0.5", "--flush-timeout", "5"],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        yield Cloud(port, ids, env), Agent(agent, log_file, data_dir)
    finally:
        for proc in (agent, daphne):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
