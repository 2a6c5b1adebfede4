"""``python manage.py demo``: the portal plus a simulated edge agent, for ``make demo``.

1. Prepares the demo box: an edge device ``demo-sim-box`` at the demo tenant's Chicago site
   driving the site's cameras, a model bundle fitted on the simulator's normal footage (once,
   cached under ``.demo/``) and the agent's camera config (``sim:SEED`` sources).
2. Starts the ASGI dev server (``runserver``: HTTP + websockets) and waits for ``/healthz``.
3. Enrolls the box the way an installer would: an enrollment token from the cloud, then
   ``vad-edge enroll`` against the running server (skipped once ``.demo/edge/device.json`` exists).
4. Starts ``vad-edge run`` streaming to ``/ws/edge/``; alerts appear on the portal within a
   minute. Ctrl-C (or ``make demo`` ending) stops both processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cameras.models import Camera, EdgeDevice
from cameras.services import device_enrollment_token_create
from tenants.models import Membership, Role, Site, Tenant
from tenants.scope import tenant_scope
from vadcloud.health import wait_until_healthy

DEMO_TENANT = "acme-retail"
DEMO_SITE = "Chicago Flagship"
DEVICE_NAME = "demo-sim-box"


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class Command(BaseCommand):
    help = "Serve the portal with a simulated, enrolled edge agent streaming live alerts (make demo)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--state", type=Path, default=Path(settings.BASE_DIR) / ".demo",
                            help="where the demo keeps the agent's data dir, bundle and config")
        parser.add_argument("--no-agent", action="store_true", help="serve the portal only")

    def handle(self, *args: Any, **opts: Any) -> None:
        state: Path = opts["state"]
        url = f"http://{opts['host']}:{opts['port']}"

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # SIGTERM stops the children too, like Ctrl-C

        signal.signal(signal.SIGTERM, stop)
        procs: list[subprocess.Popen] = []
        try:
            agent_config = None if opts["no_agent"] else self._prepare(state)
            # the cloud tells enrolling devices where to connect from PORTAL_BASE_URL
            env = {**os.environ, "PORTAL_BASE_URL": url}
            procs.append(subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload",
                                           f"{opts['host']}:{opts['port']}"], cwd=settings.BASE_DIR, env=env))
            self._wait_healthy(url, procs[0])
            if agent_config is not None:
                data_dir = state / "edge"
                if not (data_dir / "device.json").exists():
                    self._enroll(url, data_dir)
                log = (state / "agent.log").open("ab")
                procs.append(subprocess.Popen([_bin("vad-edge"), "run", "--config", str(agent_config), "--all",
                                               "--data-dir", str(data_dir)], stdout=log, stderr=log))
                self.stdout.write(f"  simulated edge agent running (log: {state / 'agent.log'}); "
                                  "live alerts appear on the portal within a minute")
            self.stdout.write(f"\n  VADCloud demo: {url}/   (API docs: {url}/api/docs/)   Ctrl-C stops it\n"
                              f"  live alert wall: {url}/alerts/ (sign in as olga, the operator); why each biometric "
                              f"model is off: {url}/sites/ (carl, the compliance officer)\n")
            agent_reported = False
            while procs[0].poll() is None:
                if len(procs) > 1 and procs[1].poll() is not None and not agent_reported:
                    self.stderr.write(f"  the edge agent stopped (exit {procs[1].returncode}); see {state / 'agent.log'}. "
                                      "The portal keeps running.")
                    agent_reported = True
                time.sleep(0.5)
            if procs[0].returncode not in (0, -signal.SIGTERM):
                raise CommandError(f"the dev server exited with {procs[0].returncode}")
        except KeyboardInterrupt:
            pass
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()

    # -- preparation ---------------------------------------------------------------------------
    def _prepare(self, state: Path) -> Path:
        """Device, bundle and agent config; returns the agent config path."""
        state.mkdir(parents=True, exist_ok=True)
        tenant = Tenant.objects.filter(slug=DEMO_TENANT).first()
        if tenant is None:
            raise CommandError("the demo tenant is missing: run `python manage.py seed_demo` first")
        with tenant_scope(tenant.id), transaction.atomic():
            site = Site.objects.get(name=DEMO_SITE)
            device, _ = EdgeDevice.objects.get_or_create(site=site, name=DEVICE_NAME)
            cameras = list(Camera.objects.filter(site=site).order_by("id"))
            Camera.objects.filter(id__in=[c.id for c in cameras]).update(device=device)
        bundle = self._bundle(state)
        config = {
            "device_id": str(device.id),
            "cameras": [
                {"id": str(cam.id), "source": f"sim:{100 + i}", "fps": 10, "scene": "parking", "bundle": str(bundle)}
                for i, cam in enumerate(cameras)
            ],
        }
        path = state / "agent.json"
        path.write_text(json.dumps(config, indent=2))
        self.device_id, self.tenant_id = device.id, tenant.id
        return path

    def _bundle(self, state: Path) -> Path:
        from edge_agent.errors import EdgeError
        from edge_agent.models.bundle import load_bundle

        bundle = state / "bundle.tar.gz"
        if bundle.exists():
            try:
                load_bundle(bundle)
                return bundle
            except EdgeError as err:  # fitted by an older agent (a model's version changed): fit it again
                self.stdout.write(f"  the demo bundle no longer loads ({err}); fitting it again")
        self.stdout.write("  fitting the demo model bundle on simulated normal footage (once, about a minute: "
                          "2-fold validation chooses its settings, then the final fit) ...")
        normal = state / "normal"
        subprocess.run([sys.executable, "-m", "edge_agent.sim", "--out", str(normal), "--frames", "600", "--seed", "1",
                        "--normal"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([_bin("vad-edge"), "train", "--source", str(normal), "--scene", "parking", "--out", str(bundle),
                        "--folds", "2", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        return bundle

    def _enroll(self, url: str, data_dir: Path) -> None:
        with tenant_scope(self.tenant_id):
            owner = Membership.objects.filter(role__in=[Role.OWNER, Role.ADMIN]).order_by("role").first()
            if owner is None:
                raise CommandError("the demo tenant has no owner or admin to create an enrollment token")
            _, token = device_enrollment_token_create(member=owner, device_id=self.device_id)
        out = subprocess.run([_bin("vad-edge"), "enroll", "--url", url, "--token", token, "--data-dir", str(data_dir)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise CommandError(f"vad-edge enroll failed: {out.stderr.strip() or out.stdout.strip()}")
        self.stdout.write(f"  enrolled {DEVICE_NAME} (data dir {data_dir})")

    def _wait_healthy(self, url: str, server: subprocess.Popen) -> None:
        if wait_until_healthy(url, server=server, timeout_s=60):
            return
        if server.poll() is not None:
            raise CommandError("the dev server exited; see its output above")
        raise CommandError(f"the dev server did not answer {url}/healthz within 60 s")

