"""Seed the demo tenant "Acme Retail" with sites, cameras, zones, alerts and demo users.

Idempotent: running it again updates nothing that exists and creates what is missing.
This is a platform job, so it says which tenant it works in with ``tenant_scope``.
"""

from __future__ import annotations

import random
from datetime import time, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from cameras.models import Camera, SceneClass, Shift, Zone, ZoneKind
from detection.models import Alert, AlertStatus, ReasonCode
from tenants.models import DataRegion, Membership, Role, Site, Tenant
from tenants.scope import tenant_scope

DEMO_PASSWORD = "vadcloud-demo"
DEMO_USERS = [
    ("owen", "Owen Owner", Role.OWNER),
    ("alice", "Alice Admin", Role.ADMIN),
    ("olga", "Olga Operator", Role.OPERATOR),
    ("carl", "Carl Compliance", Role.COMPLIANCE_OFFICER),
]
SITES = [  # name, address, time zone, jurisdiction, locality
    ("Chicago Flagship", "233 S Wacker Dr, Chicago, IL", "America/Chicago", "US-IL", "Chicago"),
    ("Berlin Mitte", "Friedrichstrasse 100, Berlin", "Europe/Berlin", "DE", "Berlin"),
]
CAMERAS = [  # site index, name, scene class
    (0, "Entrance", SceneClass.RETAIL),
    (0, "Parking lot", SceneClass.PARKING),
    (1, "Checkout", SceneClass.INDOOR),
    (1, "Loading dock", SceneClass.OUTDOOR),
]


class Command(BaseCommand):
    help = "Create (or complete) the demo tenant and demo users; prints the credentials."

    def handle(self, *args: object, **options: object) -> None:
        with transaction.atomic():
            tenant, _ = Tenant.objects.get_or_create(
                slug="acme-retail", defaults={"name": "Acme Retail", "data_region": DataRegion.EU}
            )
            users = [self._user(username, full_name) for username, full_name, _ in DEMO_USERS]
            with tenant_scope(tenant.id):
                for user, (_, _, role) in zip(users, DEMO_USERS, strict=True):
                    Membership.objects.get_or_create(user=user, defaults={"role": role})
                sites = [
                    Site.objects.get_or_create(
                        name=name, defaults={"address": address, "timezone": tz, "jurisdiction": code,
                                             "locality": locality}
                    )[0]
                    for name, address, tz, code, locality in SITES
                ]
                cameras = [self._camera(sites[site_index], name, scene) for site_index, name, scene in CAMERAS]
                for site in sites:
                    Shift.objects.get_or_create(
                        site=site, name="Night",
                        defaults={"weekdays": [1, 2, 3, 4, 5, 6, 7], "start_time": time(22, 0),
                                  "end_time": time(6, 0), "sensitivity": 0.8},
                    )
                if not Alert.objects.exists():
                    self._alerts(cameras)
        self.stdout.write(self.style.SUCCESS("Demo tenant 'Acme Retail' is ready."))
        for username, _, role in DEMO_USERS:
            self.stdout.write(f"  user {username:<6} password {DEMO_PASSWORD}  ({role.label})")

    def _user(self, username: str, full_name: str):  # noqa: ANN202
        user, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={"first_name": full_name.split()[0], "email": f"{username}@acme.example"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        return user

    def _camera(self, site: Site, name: str, scene: str) -> Camera:
        camera, created = Camera.objects.get_or_create(
            site=site, name=name,
            defaults={"scene_class": scene, "width": 1280, "height": 720, "fps": 10,
                      "stream_url": f"rtsp://viewer:demo-secret@cam-{name.lower().replace(' ', '-')}.local/stream1"},
        )
        if created:
            Zone.objects.create(camera=camera, name="Whole frame", kind=ZoneKind.ROI,
                                points=[[0, 0], [1, 0], [1, 1], [0, 1]])
            Zone.objects.create(camera=camera, name="Staff door", kind=ZoneKind.INTRUSION,
                                points=[[0.7, 0.2], [0.95, 0.2], [0.95, 0.6], [0.7, 0.6]])
            Zone.objects.create(camera=camera, name="Neighbour window", kind=ZoneKind.PRIVACY_MASK,
                                points=[[0.0, 0.0], [0.2, 0.0], [0.2, 0.25], [0.0, 0.25]])
        return camera

    def _alerts(self, cameras: list[Camera]) -> None:
        rng = random.Random(7)
        now = timezone.now()
        for i in range(12):
            camera = cameras[i % len(cameras)]
            started = now - timedelta(minutes=37 * (i + 1))
            flow, objects, ae = (round(rng.uniform(0.4, 3.0), 2) for _ in range(3))
            per_model = {
                "flow": {"score": flow, "vote": flow >= 1, "evidence": [{"kind": "cell", "label": "speed", "value": flow}]},
                "objects": {"score": objects, "vote": objects >= 1, "evidence": []},
                "autoencoder": {"score": ae, "vote": ae >= 1, "evidence": []},
            }
            status = [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.DISMISSED][i % 3]
            Alert.objects.create(
                camera=camera, zone=camera.zones.filter(kind=ZoneKind.INTRUSION).first(),
                started_at=started, ended_at=started + timedelta(seconds=rng.randint(4, 40)),
                peak_score=max(flow, objects, ae), per_model=per_model,
                boxes=[[rng.randint(0, 900), rng.randint(0, 500), 120, 220]], status=status,
                reason_code={AlertStatus.ACKNOWLEDGED: ReasonCode.CONFIRMED_INCIDENT,
                             AlertStatus.DISMISSED: ReasonCode.FALSE_ALARM}.get(status, ""),
                handled_at=None if status == AlertStatus.OPEN else started + timedelta(minutes=2),
            )
