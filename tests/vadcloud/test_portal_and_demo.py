from __future__ import annotations

from django.core.management import call_command
from django.test import Client

from cameras.models import Camera
from detection.models import Alert
from tenants.models import Membership, Tenant
from tenants.scope import tenant_scope


def test_seed_demo_is_idempotent(db, capsys):  # noqa: ANN001
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "user alice  password vadcloud-demo" in out
    tenant = Tenant.objects.get(slug="acme-retail")
    with tenant_scope(tenant.id):
        assert Camera.objects.count() == 4
        assert Alert.objects.count() == 12
        assert set(Membership.objects.values_list("role", flat=True)) == {"owner", "admin", "operator", "compliance_officer"}
        assert sorted(tenant_site.jurisdiction for tenant_site in tenant_sites()) == ["DE", "US-IL"]


def tenant_sites():  # noqa: ANN201
    from tenants.models import Site

    return Site.objects.all()


def test_demo_user_logs_in_and_sees_the_tenant(db):  # noqa: ANN001
    call_command("seed_demo")
    client = Client()
    assert client.get("/").status_code == 302  # login first
    response = client.post("/login/", {"username": "olga", "password": "vadcloud-demo"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "Acme Retail" in page
    assert "Chicago Flagship" in page and "US-IL" in page
    assert "Operator" in page


def test_user_switches_between_tenants(acme, globex):  # noqa: ANN001
    alice = acme.users["alice"]
    with tenant_scope(globex.tenant.id):
        Membership.objects.create(user=alice, role="viewer")
    client = Client()
    client.force_login(alice)
    assert "Acme Retail" in client.get("/").content.decode()
    assert client.post("/tenant/switch/", {"tenant": "globex"}).status_code == 302
    page = client.get("/").content.decode()
    assert "Globex HQ" in page and "Acme Retail HQ" not in page
    api = client.get("/api/v1/sites/").json()
    assert {row["name"] for row in api["results"]} == {"Globex HQ", "Globex Berlin"}
    assert client.post("/api/v1/me/tenant/", {"tenant": "acme"}).json()["active_tenant"] == "acme"
    assert client.post("/tenant/switch/", {"tenant": "initech"}).status_code == 404
