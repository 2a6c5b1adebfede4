"""Bad input: 400 with a specific field error, and nothing half-written."""

from __future__ import annotations

import pytest
from django.core import mail

from cameras.models import Camera, Zone
from tenants.models import Invitation, Tenant
from tenants.scope import tenant_scope
from tests.conftest import SQUARE, client_for


@pytest.fixture
def alice(acme):  # noqa: ANN001, ANN201
    return client_for(acme.users["alice"])


@pytest.mark.parametrize("code", ["XX", "US-ZZ", "Illinois", "", "DE-XX"])
def test_unknown_jurisdiction_is_a_field_error(alice, code):  # noqa: ANN001
    response = alice.post("/api/v1/sites/", {"name": "Bad", "jurisdiction": code, "timezone": "UTC"})
    assert response.status_code == 400
    assert "jurisdiction" in response.json()


@pytest.mark.parametrize("code", ["US-IL", "us-tx", "DE", "FR", "GB"])
def test_known_jurisdictions_are_accepted_and_normalised(alice, code):  # noqa: ANN001
    response = alice.post("/api/v1/sites/", {"name": f"Site {code}", "jurisdiction": code, "timezone": "UTC"})
    assert response.status_code == 201, response.content
    assert response.json()["jurisdiction"] == code.upper()


def test_unknown_timezone_is_a_field_error(alice):  # noqa: ANN001
    response = alice.post("/api/v1/sites/", {"name": "X", "jurisdiction": "DE", "timezone": "Mars/Base"})
    assert response.status_code == 400 and "timezone" in response.json()


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0.1, 0.1], [0.5, 0.5]], "at least 3 points"),
        ([[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]], "outside the image"),
        ([[0, 0], [1, 1], [1, 0], [0, 1]], "self-intersecting"),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "zero area"),
        ("not a list", "list of [x, y] pairs"),
        ([[0.1, "a"], [0.2, 0.2], [0.3, 0.1]], "numbers"),
    ],
)
def test_bad_zone_polygon_is_a_points_error(alice, acme, points, message):  # noqa: ANN001
    response = alice.post("/api/v1/zones/", {"camera": acme.camera.id, "name": "Z", "kind": "roi", "points": points},
                          format="json")
    assert response.status_code == 400
    assert message in response.json()["points"][0]


def test_line_zone_needs_two_points(alice, acme):  # noqa: ANN001
    ok = alice.post("/api/v1/zones/", {"camera": acme.camera.id, "name": "L", "kind": "line",
                                       "points": [[0.1, 0.5], [0.9, 0.5]]}, format="json")
    assert ok.status_code == 201
    bad = alice.post("/api/v1/zones/", {"camera": acme.camera.id, "name": "L2", "kind": "line", "points": SQUARE},
                     format="json")
    assert bad.status_code == 400 and "exactly 2 points" in bad.json()["points"][0]


def test_unknown_role_is_a_field_error_and_sends_nothing(alice, acme):  # noqa: ANN001
    response = alice.post("/api/v1/invitations/", {"email": "z@acme.example", "role": "superhero"})
    assert response.status_code == 400
    assert "role" in response.json()
    assert mail.outbox == []
    with tenant_scope(acme.tenant.id):
        assert not Invitation.objects.filter(email="z@acme.example").exists()


def test_duplicate_tenant_slug_is_a_field_error(alice, acme):  # noqa: ANN001
    response = alice.post("/api/v1/tenants/", {"name": "Another", "slug": "acme"})
    assert response.status_code == 400
    assert "already taken" in response.json()["slug"][0]
    assert Tenant.objects.filter(slug="acme").count() == 1


def test_camera_with_one_bad_zone_writes_nothing(alice, acme):  # noqa: ANN001
    payload = {"site": acme.site.id, "name": "Lobby", "zones": [
        {"name": "ok", "kind": "roi", "points": SQUARE},
        {"name": "bad", "kind": "intrusion", "points": [[0, 0], [1, 1], [1, 0], [0, 1]]},
    ]}
    response = alice.post("/api/v1/cameras/", payload, format="json")
    assert response.status_code == 400
    assert "self-intersecting" in str(response.json()["zones"])
    with tenant_scope(acme.tenant.id):
        assert not Camera.objects.filter(name="Lobby").exists()
        assert not Zone.objects.filter(name="ok").exists()


def test_camera_with_good_zones_is_created_with_them(alice, acme):  # noqa: ANN001
    payload = {"site": acme.site.id, "name": "Lobby", "scene_class": "retail",
               "zones": [{"name": "door", "kind": "loitering", "points": SQUARE, "loiter_seconds": 30}]}
    response = alice.post("/api/v1/cameras/", payload, format="json")
    assert response.status_code == 201, response.content
    with tenant_scope(acme.tenant.id):
        assert Zone.objects.get(camera_id=response.json()["id"]).loiter_seconds == 30


def test_attaching_a_camera_to_another_tenants_site_is_a_field_error(alice, globex):  # noqa: ANN001
    response = alice.post("/api/v1/cameras/", {"site": globex.site.id, "name": "Spy"})
    assert response.status_code == 400
    assert "site" in response.json()


def test_duplicate_camera_name_at_a_site_is_a_field_error(alice, acme):  # noqa: ANN001
    response = alice.post("/api/v1/cameras/", {"site": acme.site.id, "name": "Entrance"})
    assert response.status_code == 400 and "already exists" in response.json()["name"][0]


def test_shift_with_bad_weekday_is_a_field_error(alice, acme):  # noqa: ANN001
    response = alice.post("/api/v1/shifts/", {"site": acme.site.id, "name": "S", "weekdays": [0, 8],
                                               "start_time": "08:00", "end_time": "16:00"}, format="json")
    assert response.status_code == 400 and "weekdays" in response.json()
