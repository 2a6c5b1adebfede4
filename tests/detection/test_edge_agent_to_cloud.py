"""End to end: the real agent (``vad-edge run --data-dir``) streams to the real cloud (daphne).

One daphne process on 127.0.0.1 serves ``/ws/edge/`` from a throw-away SQLite file database (in-memory
channel layer); the agent runs as a subprocess on simulated footage with an intrusion, through its
durable outbox and sender thread, and exits when the footage ends (flushing). The cloud must hold
the device's seqs, one alert per event (with its curve), and the agent's outbox must be empty.
Every wait is bounded; daphne is killed in ``finally``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

SETUP = """
import json
from django.utils import timezone
from cameras.models import Camera, EdgeDevice
from tenants.models import Site, Tenant
from tenants.scope import tenant_scope
tenant = Tenant.objects.create(slug="agent-e2e", name="Agent E2E")
with tenant_scope(tenant.id):
    site = Site.objects.create(name="Yard", jurisdiction="US-IL", timezone="America/Chicago")
    device = EdgeDevice.objects.create(site=site, name="box-1", public_key=PUBLIC_KEY, enrolled_at=timezone.now())
    camera = Camera.objects.create(site=site, device=device, name="Yard cam")
print(json.dumps({"tenant": tenant.id, "device": device.id, "camera": camera.id}))
"""

CHECK = """
import json
from cameras.models import EdgeDevice
from detection.models import Alert
from tenants.scope import tenant_scope
with tenant_scope(TENANT):
    device = EdgeDevice.objects.get(id=DEVICE)
    alerts = list(Alert.objects.filter(device=device).values("event_id", "camera_id", "curve"))
print(json.dumps({"last_seq": device.last_seq, "health": device.health,
                  "alerts": [{"event_id": a["event_id"], "camera": a["camera_id"], "curve": bool(a["curve"])}
                             for a in alerts]}, default=str))
"""


def test_the_agent_streams_events_to_the_cloud_and_its_outbox_drains(tmp_path) -> None:
    from edge_agent.sim import render, sim_zones, write_folder
    from edge_agent.transport.outbox import Outbox

    db_file = Path("/tmp") / f"vad-agent-e2e-{uuid.uuid4().hex[:12]}.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "VAD_EDGE_DATA_DIR")}
    env.update({"DATABASE_URL": f"sqlite:///{db_file}", "DJANGO_SETTINGS_MODULE": "vadcloud.settings",
                "CELERY_TASK_ALWAYS_EAGER": "1"})
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)).decode()
    daphne: subprocess.Popen | None = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True, timeout=300)
        out = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP.replace("PUBLIC_KEY", repr(public))],
                             cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True)
        ids = json.loads(out.stdout.strip().splitlines()[-1])
        port = free_port()
        daphne = subprocess.Popen([str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                   "vadcloud.asgi:application"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, daphne)

        data_dir = tmp_path / "dev"  # what `vad-edge enroll` leaves behind
        data_dir.mkdir()
        (data_dir / "device.json").write_text(json.dumps({
            "device_id": ids["device"], "cloud_url": f"http://127.0.0.1:{port}",
            "ws_url": f"ws://127.0.0.1:{port}/ws/edge/", "config_keys": {}}))
        (data_dir / "device_key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        os.chmod(data_dir / "device_key.pem", 0o600)
        folder = write_folder(tmp_path / "yard", render(300, seed=6, kinds=("intrusion",), warmup_s=5.0))
        cfg = tmp_path / "agent.json"
        cfg.write_text(json.dumps({"cameras": [{
            "id": str(ids["camera"]), "source": str(folder), "scene": "parking",
            "zones": [z.model_dump(mode="json") for z in sim_zones()], "models": [{"type": "zone_rules"}]}]}))
        t0 = time.perf_counter()
        agent = subprocess.run([sys.executable, "-m", "edge_agent", "run", "--data-dir", str(data_dir),
                                "--config", str(cfg), "--all", "--heartbeat-s", "1", "--flush-timeout", "20"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        seconds = time.perf_counter() - t0
        assert agent.returncode == 0, agent.stderr
        assert agent.stdout == ""  # streamed, not printed
        left = Outbox(data_dir / "outbox.sqlite3")
        assert left.pending() == 0 and left.stats()["dead_letters"] == 0, left.dead_letters()
        sent = left.last_seq
        check = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                                CHECK.replace("TENANT", str(ids["tenant"])).replace("DEVICE", str(ids["device"]))],
                               cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True)
        state = json.loads(check.stdout.strip().splitlines()[-1])
    finally:
        if daphne is not None:
            daphne.kill()
            daphne.wait(timeout=10)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    print(f"\nagent -> cloud: {sent} messages over /ws/edge/ in {seconds:.1f} s (300 frames, start to exit)")
    assert state["last_seq"] == sent >= 3  # opened, the event, ended (+ heartbeats): every seq committed
    assert len(state["alerts"]) == 1  # one intrusion, one alert (open + updates + close are one event)
    alert = state["alerts"][0]
    assert alert["camera"] == ids["camera"] and alert["curve"] and uuid.UUID(alert["event_id"]).version == 7
