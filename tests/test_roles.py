"""Role matrix: who may write what inside their own tenant."""

from __future__ import annotations

import pytest

from tests.conftest import SQUARE, client_for


def writes(acme):  # noqa: ANN001, ANN201
    """(name, method, url, payload) of writes, grouped by the permission they need."""
    return {
        "manage_sites": [
            ("create site", "post", "/api/v1/sites/", {"name": "New", "jurisdiction": "FR", "timezone": "Europe/Paris"}),
            ("rename site", "patch", f"/api/v1/sites/{acme.site.id}/", {"name": "Renamed"}),
            ("create camera", "post", "/api/v1/cameras/", {"site": acme.site.id, "name": "Cam 9"}),
            ("change camera", "patch", f"/api/v1/cameras/{acme.camera.id}/", {"fps": 5}),
            ("delete camera", "delete", f"/api/v1/cameras/{acme.other_camera.id}/", None),
            ("create zone", "post", "/api/v1/zones/", {"camera": acme.camera.id, "name": "Z", "kind": "roi", "points": SQUARE}),
            ("change shift", "patch", f"/api/v1/shifts/{acme.shift.id}/", {"sensitivity": 0.9}),
            ("create device", "post", "/api/v1/devices/", {"site": acme.site.id, "name": "box-9"}),
        ],
        "manage_members": [
            ("invite", "post", "/api/v1/invitations/", {"email": "x@acme.example", "role": "viewer"}),
            ("change role", "patch", f"/api/v1/memberships/{acme.membership_ids[3]}/", {"role": "viewer"}),
        ],
        "handle_alerts": [
            ("acknowledge", "post", f"/api/v1/alerts/{acme.alert.id}/acknowledge/", {"reason": "investigating"}),
        ],
    }


ALLOWED = {
    "owen": {"manage_sites", "manage_members", "handle_alerts"},
    "alice": {"manage_sites", "manage_members", "handle_alerts"},
    "olga": {"handle_alerts"},
    "carl": set(),
    "vera": set(),
}


@pytest.mark.parametrize("username", sorted(ALLOWED))
def test_role_matrix(acme, username):  # noqa: ANN001
    client = client_for(acme.users[username])
    for group, requests in writes(acme).items():
        for name, method, url, payload in requests:
            response = getattr(client, method)(url, payload, format="json")
            if group in ALLOWED[username]:
                assert response.status_code in (200, 201, 204), (username, name, response.status_code, response.content)
            else:
                assert response.status_code == 403, (username, name, response.status_code)


@pytest.mark.parametrize("username", ["carl", "vera", "olga"])
def test_read_only_roles_can_read_cameras_sites_and_alerts(acme, username):  # noqa: ANN001
    client = client_for(acme.users[username])
    for url in ("/api/v1/cameras/", f"/api/v1/cameras/{acme.camera.id}/", "/api/v1/sites/", "/api/v1/alerts/"):
        assert client.get(url).status_code == 200, url


def test_operator_limited_to_granted_sites_sees_only_those(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    limited = acme.add("lina", "operator", all_sites=False)
    from tenants.models import Membership
    from tenants.scope import tenant_scope

    with tenant_scope(acme.tenant.id):
        lina_membership = Membership.objects.get(user=limited)
    response = alice.patch(f"/api/v1/memberships/{lina_membership.id}/", {"site_ids": [acme.site.id]}, format="json")
    assert response.status_code == 200, response.content

    lina = client_for(limited)
    assert [s["id"] for s in lina.get("/api/v1/sites/").json()["results"]] == [acme.site.id]
    assert {c["id"] for c in lina.get("/api/v1/cameras/").json()["results"]} == {acme.camera.id}
    assert {a["id"] for a in lina.get("/api/v1/alerts/").json()["results"]} == {acme.alert.id}
    assert lina.get(f"/api/v1/cameras/{acme.other_camera.id}/").status_code == 404
    assert lina.post(f"/api/v1/alerts/{acme.other_alert.id}/acknowledge/", {"reason": "investigating"}).status_code == 404
    assert lina.post(f"/api/v1/alerts/{acme.alert.id}/acknowledge/", {"reason": "investigating"}).status_code == 200


def test_last_owner_cannot_be_demoted(acme):  # noqa: ANN001
    from tenants.models import Membership
    from tenants.scope import tenant_scope

    with tenant_scope(acme.tenant.id):
        owner = Membership.objects.get(user=acme.users["owen"])
    response = client_for(acme.users["owen"]).patch(f"/api/v1/memberships/{owner.id}/", {"role": "viewer"})
    assert response.status_code == 400
    assert "at least one owner" in response.json()["role"][0]
    with tenant_scope(acme.tenant.id):
        assert Membership.objects.get(id=owner.id).role == "owner"


def test_single_camera_grant_shows_that_camera_and_its_alerts_only(acme):  # noqa: ANN001
    from tenants.models import Membership
    from tenants.scope import tenant_scope

    limited = acme.add("cato", "operator", all_sites=False)
    with tenant_scope(acme.tenant.id):
        cato_membership = Membership.objects.get(user=limited)
    alice = client_for(acme.users["alice"])
    response = alice.patch(f"/api/v1/memberships/{cato_membership.id}/", {"camera_ids": [acme.other_camera.id]},
                           format="json")
    assert response.status_code == 200, response.content

    cato = client_for(limited)
    assert cato.get("/api/v1/sites/").json()["results"] == []
    assert {c["id"] for c in cato.get("/api/v1/cameras/").json()["results"]} == {acme.other_camera.id}
    assert {a["id"] for a in cato.get("/api/v1/alerts/").json()["results"]} == {acme.other_alert.id}
    assert cato.get(f"/api/v1/alerts/{acme.alert.id}/").status_code == 404


def test_granting_another_tenants_camera_is_a_field_error(acme, globex):  # noqa: ANN001
    response = client_for(acme.users["alice"]).patch(
        f"/api/v1/memberships/{acme.membership_ids[1]}/", {"camera_ids": [globex.camera.id]}, format="json")
    assert response.status_code == 400
    assert "unknown id" in response.json()["camera_ids"][0]


def test_only_owners_and_admins_rename_the_tenant(acme):  # noqa: ANN001
    for username in ("olga", "carl", "vera"):
        refused = client_for(acme.users[username]).patch(f"/api/v1/tenants/{acme.tenant.id}/", {"name": "Hacked"})
        assert refused.status_code == 403 and "does not allow" in refused.json()["detail"], username
    renamed = client_for(acme.users["alice"]).patch(f"/api/v1/tenants/{acme.tenant.id}/", {"name": "Acme Stores"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Acme Stores"
