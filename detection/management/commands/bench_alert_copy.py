"""``python manage.py bench_alert_copy``: what PostgreSQL spends to take in new alerts the way edge
ingest writes them (``detection.ingest._insert_alerts``: ids from the sequence, then ``COPY``), per
row, with the indexes the ``detection_alert`` table has now.

It measures the database backend's own CPU time (``/proc/<pg_backend_pid()>/stat``; the server
must run on this machine) as well as the wall time and this process's CPU, because the ingest
server's CPU figure (``bench_edge``) does not include the database's work. Everything happens in
one transaction that is rolled back: a throw-away tenant, ``--prefill`` alerts so the indexes are
not empty, then ``--repeats`` runs of ``--rows`` alerts in COPYs of ``--batch``. Medians.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from cameras.models import Camera, DeviceStatus, EdgeDevice
from detection.ingest import _insert_alerts, _NewAlert
from detection.models import Alert
from tenants.models import Site, Tenant
from tenants.scope import tenant_scope


class _Rollback(Exception):
    pass


def _backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alerts(n: int, *, tenant_id: int, camera: Camera, device_id: int, t0: datetime) -> list[_NewAlert]:
    now = timezone.now()
    return [_NewAlert(tenant_id=tenant_id, camera=camera, zone=None, device_id=device_id, event_id=str(uuid.uuid4()),
                      started_at=t0 + timedelta(milliseconds=i), peak_score=2.0,
                      per_model={"flow": {"score": 2.0, "vote": True, "evidence": []}}, boxes=[],
                      curve={}, now=now)
            for i in range(n)]


def _indexes() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
                       [Alert._meta.db_table])
        return [name for (name,) in cursor.fetchall()]


class Command(BaseCommand):
    help = "Database CPU per alert row of edge ingest's COPY, with the alert table's current indexes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rows", type=int, default=20000, help="alerts per measured run")
        parser.add_argument("--batch", type=int, default=100, help="alerts per COPY (one ingest group)")
        parser.add_argument("--prefill", type=int, default=50000, help="alerts inserted before measuring")
        parser.add_argument("--repeats", type=int, default=5)

    def handle(self, *args: Any, **opts: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(f"bench_alert_copy needs PostgreSQL (DATABASE_URL); this is {connection.vendor}")
        runs: list[tuple[float, float, float]] = []
        try:
            with transaction.atomic():
                indexes = _indexes()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    (pid,) = cursor.fetchone()
                stamp = uuid.uuid4().hex[:10]
                tenant = Tenant.objects.create(name=f"Bench copy {stamp}", slug=f"bench-copy-{stamp}")
                with tenant_scope(tenant.id):
                    site = Site.objects.create(name="Bench site", jurisdiction="DE", timezone="UTC")
                    device = EdgeDevice.objects.create(site=site, name="copy", status=DeviceStatus.ONLINE)
                    camera = Camera.objects.create(site=site, device=device, name="cam")
                t0 = datetime(2026, 1, 1, tzinfo=UTC)
                for start in range(0, opts["prefill"], 1000):
                    _insert_alerts(_alerts(min(1000, opts["prefill"] - start), tenant_id=tenant.id,
                                           camera=camera, device_id=device.id, t0=t0))
                for _ in range(opts["repeats"]):
                    groups = [_alerts(min(opts["batch"], opts["rows"] - i), tenant_id=tenant.id, camera=camera,
                                      device_id=device.id, t0=timezone.now())
                              for i in range(0, opts["rows"], opts["batch"])]
                    db0, cpu0, wall0 = _backend_cpu_s(pid), time.process_time(), time.perf_counter()
                    for group in groups:
                        _insert_alerts(group)
                    wall, cpu, db = time.perf_counter() - wall0, time.process_time() - cpu0, _backend_cpu_s(pid) - db0
                    runs.append((db / opts["rows"] * 1e6, cpu / opts["rows"] * 1e6, wall / opts["rows"] * 1e6))
                raise _Rollback
        except _Rollback:
            pass
        db_us, client_us, wall_us = (statistics.median(r[i] for r in runs) for i in range(3))
        self.stdout.write(f"alert table indexes ({len(indexes)}): {', '.join(indexes)}")
        self.stdout.write(
            f"COPY of {opts['rows']} alerts in groups of {opts['batch']} (after {opts['prefill']} prefilled), "
            f"median of {len(runs)}: database backend CPU {db_us:.1f} us/row ({[round(r[0], 1) for r in runs]}), "
            f"this process {client_us:.1f} us/row, wall {wall_us:.1f} us/row")
