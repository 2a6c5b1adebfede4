"""Shared actors (healthchecks style): two tenants and named users.

acme   (Acme Retail): alice admin, olga operator, carl compliance officer, vera viewer, owen owner
globex (Globex):      mallory admin - "has no access to Acme's stuff"
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.models import Camera, EdgeDevice, Shift, Zone, ZoneKind
from detection.models import Alert
from tenants.models import Invitation, Membership, Role, Site, Tenant
from tenants.scope import tenant_scope
from vadcloud.celery import app as celery_app

SQUARE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Tasks run in-process in tests so their effects (emails) can be asserted."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # noqa: ANN001
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _bundles_outside_the_repo(tmp_path_factory) -> Iterator[None]:  # noqa: ANN001
    """Model bundles a test uploads go to a temporary directory, never into MEDIA_ROOT."""
    from django.conf import settings
    from django.test import override_settings

    root = tmp_path_factory.mktemp("bundles")
    override = override_settings(STORAGES={**settings.STORAGES, "bundles": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}})
    override.enable()
    yield
    override.disable()


def make_user(username: str):  # noqa: ANN201
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.com", password="pw-123456!")


class World:
    """Everything one tenant owns, created inside its scope."""

    def __init__(self, slug: str, name: str, admin_name: str) -> None:
        self.tenant = Tenant.objects.create(slug=slug, name=name)
        self.users = {}
        with tenant_scope(self.tenant.id):
            self.site = Site.objects.create(name=f"{name} HQ", jurisdiction="US-IL", timezone="America/Chicago")
            self.other_site = Site.objects.create(name=f"{name} Berlin", jurisdiction="DE", timezone="Europe/Berlin")
            self.device = EdgeDevice.objects.create(site=self.site, name="box-1")
            self.camera = Camera.objects.create(site=self.site, device=self.device, name="Entrance",
                                                stream_url="rtsp://cam:s3cret@10.0.0.5/stream")
            self.other_camera = Camera.objects.create(site=self.other_site, name="Dock")
            self.zone = Zone.objects.create(camera=self.camera, name="Door", kind=ZoneKind.INTRUSION, points=SQUARE)
            self.shift = Shift.objects.create(site=self.site, name="Night", weekdays=[1, 2, 3],
                                              start_time=time(22), end_time=time(6))
            now = timezone.now()
            self.alert = Alert.objects.create(camera=self.camera, zone=self.zone, started_at=now, peak_score=2.5,
                                              per_model={"flow": {"score": 2.5, "vote": True, "evidence": []}})
            self.other_alert = Alert.objects.create(camera=self.other_camera, started_at=now - timedelta(hours=1),
                                                    peak_score=1.5)
            self.invitation = Invitation.objects.create(email=f"new@{slug}.example", role=Role.VIEWER,
                                                        token=f"tok-{slug}", expires_at=now + timedelta(days=1))
        self.add(admin_name, Role.ADMIN)

    def add(self, username: str, role: str, **extra: object):  # noqa: ANN201
        user = make_user(username)
        with tenant_scope(self.tenant.id):
            Membership.objects.create(user=user, role=role, **extra)
        self.users[username] = user
        return user

    @property
    def membership_ids(self) -> list[int]:
        with tenant_scope(self.tenant.id):
            return list(Membership.objects.values_list("id", flat=True))


@pytest.fixture
def acme(db) -> World:  # noqa: ANN001
    world = World("acme", "Acme Retail", "alice")
    world.add("olga", Role.OPERATOR)
    world.add("carl", Role.COMPLIANCE_OFFICER)
    world.add("vera", Role.VIEWER)
    world.add("owen", Role.OWNER)
    return world


@pytest.fixture
def globex(db) -> World:  # noqa: ANN001
    return World("globex", "Globex", "mallory")


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def client_for(user) -> APIClient:  # noqa: ANN001
    client = APIClient()
    client.force_authenticate(user)
    return client


def portal_client(user, tenant_id: int):  # noqa: ANN001, ANN201
    """A Django test client signed in as ``user`` with ``tenant_id`` as the portal's current tenant."""
    from django.test import Client

    from tenants.middleware import SESSION_TENANT_KEY

    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_TENANT_KEY] = tenant_id
    session.save()
    return client
