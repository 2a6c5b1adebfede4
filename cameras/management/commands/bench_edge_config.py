"""``python manage.py bench_edge_config``: what one signed device config costs, printed not asserted.

Creates a throw-away tenant with one device serving ``--cameras`` cameras of ``--zones`` zones of
``--points`` points each (and ``--shifts`` shifts), inside a transaction that is rolled back at the
end, and prints median / max over ``--repeats`` runs of:

- build: ``device_config`` + canonical JSON (the database reads included);
- sign: ``config_sign`` end to end (row lock, sha256, version check, Ed25519 signature);
- agent apply: ``ConfigStore.apply`` (verify, parse the strict model, atomic 0600 write);
- payload and frame bytes, and the frame's share of ``MAX_FRAME_BYTES``.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from datetime import time as clock
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cameras.edgeconfig import canonical_json, config_public_keys, config_sign, device_config
from cameras.models import Camera, EdgeDevice, Shift, Zone, ZoneKind
from edge_agent.protocol import MAX_FRAME_BYTES
from edge_agent.signedconfig import ConfigStore
from tenants.models import Site, Tenant
from tenants.scope import tenant_scope


class _Rollback(Exception):
    pass


def _polygon(n: int, k: int) -> list[list[float]]:
    r = 0.05 + 0.02 * (k % 5)
    cx, cy = 0.2 + 0.06 * (k % 10), 0.2 + 0.06 * (k // 10 % 10)
    return [[round(cx + r * math.cos(2 * math.pi * i / n), 6), round(cy + r * math.sin(2 * math.pi * i / n), 6)]
            for i in range(n)]


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:.2f} ms, max {max(values) * 1e3:.2f} ms"


class Command(BaseCommand):
    help = "Time building, signing and applying one signed device config (throw-away data, rolled back)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--cameras", type=int, default=16)
        parser.add_argument("--zones", type=int, default=8, help="zones per camera")
        parser.add_argument("--points", type=int, default=50, help="points per zone polygon")
        parser.add_argument("--shifts", type=int, default=4)
        parser.add_argument("--repeats", type=int, default=20)

    def handle(self, *args: Any, **opts: Any) -> None:
        for name in ("cameras", "zones", "points", "shifts", "repeats"):
            if opts[name] < (3 if name == "points" else 1) or opts[name] > 2000:
                raise CommandError(f"--{name} must be between {3 if name == 'points' else 1} and 2000, "
                                   f"got {opts[name]}")
        try:
            with transaction.atomic():
                self._run(opts)
                raise _Rollback
        except _Rollback:
            pass

    def _run(self, opts: dict[str, Any]) -> None:
        tenant = Tenant.objects.create(slug=f"bench-config-{time.time_ns()}", name="bench config")
        with tenant_scope(tenant.id):
            site = Site.objects.create(name="bench", jurisdiction="DE", timezone="Europe/Berlin")
            device = EdgeDevice.objects.create(site=site, name="bench-box")
            for c in range(opts["cameras"]):
                camera = Camera.objects.create(site=site, device=device, name=f"cam-{c}",
                                               stream_url=f"rtsp://user:secret@10.0.{c // 250}.{c % 250}/s")
                Zone.objects.bulk_create([
                    Zone(tenant_id=tenant.id, camera=camera, name=f"z{z}", kind=ZoneKind.INTRUSION,
                         points=_polygon(opts["points"], z)) for z in range(opts["zones"])])
            for s in range(opts["shifts"]):
                Shift.objects.create(site=site, name=f"shift-{s}", weekdays=[1, 2, 3, 4, 5],
                                     start_time=clock(s * 24 // opts["shifts"]), end_time=clock(23, 59))
            build, sign, apply = [], [], []
            keys = config_public_keys()
            with tempfile.TemporaryDirectory() as data_dir:
                store = ConfigStore(data_dir, keys, device_id=device.id)
                for i in range(opts["repeats"]):
                    t0 = time.perf_counter()
                    payload = canonical_json(device_config(device=device))
                    build.append(time.perf_counter() - t0)
                    if i:  # a change, so every run signs a new version
                        Zone.objects.filter(camera__device=device, name="z0").update(loiter_seconds=i)
                    t0 = time.perf_counter()
                    push = config_sign(device=device)
                    sign.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    store.apply(push)
                    apply.append(time.perf_counter() - t0)
            frame = len(push.model_dump_json().encode())
        self.stdout.write(
            f"device: {opts['cameras']} cameras x {opts['zones']} zones x {opts['points']} points, "
            f"{opts['shifts']} shifts; {opts['repeats']} runs\n"
            f"build (device_config + canonical JSON): {_ms(build)}\n"
            f"sign (config_sign, version bump + Ed25519): {_ms(sign)}\n"
            f"agent apply (verify + parse + atomic write): {_ms(apply)}\n"
            f"payload {len(payload.encode())} bytes, frame {frame} bytes = {100 * frame / MAX_FRAME_BYTES:.1f}% "
            f"of MAX_FRAME_BYTES ({MAX_FRAME_BYTES})")
