"""BOLA matrix: every API route that takes an object id answers 404 to every role of another
tenant, and works for a member of the owning tenant (the positive control: a route that 404s for
everyone fails); no list route shows another tenant's rows; the alert websocket answers 4404 for
another tenant's and another site's alerts, for every role.

Routes are enumerated from the URLconf, so a new route without a target and a positive control
here fails the test instead of being forgotten.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.models import Membership, Role
from tenants.scope import tenant_scope
from tests.bundles import create_artifact, use_tmp_bundle_storage
from tests.compliance.consent_factory import make_consent
from tests.compliance.exports_factory import make_dpia, make_erasure, make_export_job, make_hold, use_tmp_export_storage
from tests.conftest import SQUARE, World, client_for, portal_client

OTHER_TENANT_ROLES = [Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.COMPLIANCE_OFFICER, Role.VIEWER]


@dataclass(frozen=True)
class Route:
    template: str  # e.g. "api/v1/sites/{pk}/"
    name: str  # e.g. "site-detail"
    methods: tuple[str, ...]
    needs_pk: bool

    @property
    def basename(self) -> str:
        return self.name.rsplit("-", 1)[0]


def _walk(patterns, prefix: str = ""):  # noqa: ANN001, ANN202
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_routes() -> list[Route]:
    routes = []
    for raw, entry in _walk(get_resolver().url_patterns):
        if not raw.startswith("api/v1/") or entry.name is None:
            continue
        actions = getattr(entry.callback, "actions", None)
        if actions:
            methods = tuple(sorted(set(actions) - {"head", "options"}))  # DRF adds head = get on first use
        else:
            view_class = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            methods = tuple(m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m))
        template = re.sub(r"\(\?P<pk>[^)]*\)", "{pk}", raw).replace("^", "").replace("$", "")
        if "(?P<format>" in template:
            continue  # format-suffix duplicates
        routes.append(Route(template, entry.name, methods, "{pk}" in template))
    return routes


def victims(acme: World) -> dict[str, int]:
    """The acme object each id-taking route is aimed at, by router basename."""
    from tenants.services import api_token_create

    with tenant_scope(acme.tenant.id):
        vera_membership = Membership.objects.get(user=acme.users["vera"])
    token, _ = api_token_create(user=acme.users["owen"], name="ci")
    return {
        "tenant": acme.tenant.id,
        "site": acme.site.id,
        "membership": vera_membership.id,
        "invitation": acme.invitation.id,
        "camera": acme.camera.id,
        "zone": acme.zone.id,
        "device": acme.device.id,
        "shift": acme.shift.id,
        "alert": acme.alert.id,
        "api-token": token.id,
        "audit-entry": acme_audit_ids(acme)[0],
        "model-artifact": create_artifact(acme, cameras=(acme.camera.id,)).id,
        "consent": make_consent(acme).id,
        "legal-hold": make_hold(acme).id,
        "erasure-request": make_erasure(acme).id,
        "export-job": make_export_job(acme).id,
        "dpia": make_dpia(acme).id,  # after every row that changes the configuration, so it is not stale
    }


def acme_audit_ids(acme: World) -> list[int]:
    """Acme's audit entries (victims() creates owen's API token, which is audited)."""
    from compliance.models import AuditEntry

    with tenant_scope(acme.tenant.id):
        return list(AuditEntry.objects.order_by("seq").values_list("id", flat=True))


def allowed_requests(acme: World) -> dict[tuple[str, str], dict]:
    """(route name, method) -> a valid body: the positive control that owen (acme's owner) sends.

    Every id route and method must be listed, so a route that 404s for everyone fails the matrix.
    """
    site, camera = acme.site.id, acme.camera.id
    shift = {"site": site, "name": "Late", "weekdays": [1, 2], "start_time": "20:00", "end_time": "23:00"}
    zone = {"camera": camera, "name": "Door 2", "kind": "intrusion", "points": SQUARE}
    return {
        ("tenant-detail", "get"): {}, ("tenant-detail", "patch"): {"name": "Acme Two"},
        ("tenant-detail", "put"): {"name": "Acme Two", "slug": "acme", "data_region": "eu"},
        ("site-detail", "get"): {}, ("site-detail", "patch"): {"name": "HQ 2"},
        ("site-detail", "put"): {"name": "HQ 2", "jurisdiction": "US-IL", "timezone": "America/Chicago"},
        ("site-detail", "delete"): {},
        ("membership-detail", "get"): {}, ("membership-detail", "patch"): {"role": "operator"},
        ("membership-detail", "put"): {"role": "operator", "all_sites": True}, ("membership-detail", "delete"): {},
        ("invitation-detail", "get"): {}, ("invitation-detail", "delete"): {},
        ("camera-detail", "get"): {}, ("camera-detail", "patch"): {"fps": 5},
        ("camera-detail", "put"): {"site": site, "name": "Entrance 2", "device": acme.device.id},
        ("camera-detail", "delete"): {},
        ("camera-scene_image", "get"): {}, ("camera-scene_image_request", "post"): {},
        ("zone-detail", "get"): {}, ("zone-detail", "patch"): {"name": "Door 3"}, ("zone-detail", "put"): zone,
        ("zone-detail", "delete"): {},
        ("device-detail", "get"): {}, ("device-detail", "patch"): {"name": "box-2"},
        ("device-detail", "put"): {"site": site, "name": "box-3"}, ("device-detail", "delete"): {},
        ("device-enrollment", "post"): {}, ("device-revoke", "post"): {},
        ("device-commands", "get"): {}, ("device-commands", "post"): {"action": "reload"},
        ("shift-detail", "get"): {}, ("shift-detail", "patch"): {"sensitivity": 0.9}, ("shift-detail", "put"): shift,
        ("shift-detail", "delete"): {},
        ("alert-detail", "get"): {}, ("alert-acknowledge", "post"): {"reason": "investigating"},
        ("alert-dismiss", "post"): {"reason": "false_alarm"},
        ("api-token-detail", "delete"): {},
        ("audit-entry-detail", "get"): {},
        ("model-artifact-detail", "get"): {}, ("model-artifact-detail", "patch"): {"cameras": [camera]},
        ("model-artifact-detail", "delete"): {},
        ("camera-policy", "get"): {}, ("camera-stop", "post"): {}, ("camera-resume", "post"): {},
        ("site-policy", "get"): {}, ("consent-detail", "get"): {}, ("consent-withdraw", "post"): {"reason": "test"},
        ("dpia-detail", "get"): {}, ("dpia-pdf", "get"): {}, ("dpia-json", "get"): {},
        ("dpia-sign", "post"): {"dpo_name": "Owen Owner", "dpo_opinion": "accepted", "review_date": "2099-01-01"},
        ("export-job-detail", "get"): {}, ("export-job-download", "get"): {},
        ("legal-hold-detail", "get"): {}, ("legal-hold-release", "post"): {},
        ("erasure-request-detail", "get"): {},
    }


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path) -> None:  # noqa: ANN001
    use_tmp_bundle_storage(settings, tmp_path / "bundles")
    use_tmp_export_storage(settings, tmp_path / "exports")  # compliance export job files


@pytest.fixture
def globex_all_roles(globex: World) -> list:
    from tenants.services import api_token_create

    create_artifact(globex)  # so the model-artifact list has a row of their own
    make_consent(globex)  # so the consent list has a row of their own
    make_hold(globex), make_erasure(globex), make_export_job(globex), make_dpia(globex)  # compliance lists
    users = [globex.add(f"globex-{role}", role) for role in OTHER_TENANT_ROLES]
    for user in users:
        api_token_create(user=user, name="own")  # so the token list has a row of their own
    return users


@pytest.fixture
def acme_scene_image(acme: World, settings, tmp_path) -> None:  # noqa: ANN001
    """Acme's site allows scene images and its camera has one (the scene-image routes' controls)."""
    from django.core.files.base import ContentFile

    from cameras.models import Camera
    from tenants.models import Site

    settings.MEDIA_ROOT = tmp_path / "media"
    with tenant_scope(acme.tenant.id):
        Site.objects.filter(id=acme.site.id).update(scene_images_allowed=True)
        camera = Camera.objects.get(id=acme.camera.id)
        camera.scene_image.save("bola.jpg", ContentFile(b"\xff\xd8\xff\xe0 not decoded when served"))


def test_every_id_route_answers_404_to_every_role_of_another_tenant_and_works_for_its_own(
        acme, globex_all_roles, capsys, acme_scene_image):  # noqa: ANN001
    targets = victims(acme)
    allowed = allowed_requests(acme)
    id_routes = [r for r in api_routes() if r.needs_pk]
    missing = sorted({r.basename for r in id_routes} - set(targets))
    assert not missing, f"routes without a BOLA target: {missing}; add them to victims()"
    no_control = sorted({(r.name, m) for r in id_routes for m in r.methods} - set(allowed))
    assert not no_control, f"routes without a positive control: {no_control}; add them to allowed_requests()"

    refused = controls = 0
    owner = client_for(acme.users["owen"])
    for route in id_routes:
        url = "/" + route.template.format(pk=targets[route.basename])
        for user in globex_all_roles:
            client = client_for(user)
            for method in route.methods:
                response = getattr(client, method)(url, {}, format="json")
                assert response.status_code == 404, (
                    f"{method.upper()} {url} as {user.username}: {response.status_code} {response.content[:200]!r}"
                )
                refused += 1
        # positive control, each in a rolled-back transaction so a DELETE does not starve later routes
        for method in sorted(route.methods, key=lambda m: m == "delete"):
            with transaction.atomic():
                response = getattr(owner, method)(url, allowed[(route.name, method)], format="json")
                assert 200 <= response.status_code < 300, (
                    f"positive control {method.upper()} {url} as owen (acme owner): "
                    f"{response.status_code} {response.content[:300]!r}"
                )
                controls += 1
                transaction.set_rollback(True)
    with capsys.disabled():
        print(f"\nBOLA matrix: {len(id_routes)} id routes x {len(globex_all_roles)} roles of another tenant = "
              f"{refused} requests, all 404; positive controls by the owning tenant: {controls}, all 2xx")
    assert len(id_routes) >= 10


def test_list_routes_never_show_another_tenants_rows(acme, globex_all_roles, capsys):  # noqa: ANN001
    acme_ids = {name: {pk} for name, pk in victims(acme).items()}
    acme_ids["camera"].add(acme.other_camera.id)
    acme_ids["site"].add(acme.other_site.id)
    acme_ids["alert"].add(acme.other_alert.id)
    acme_ids["membership"] |= set(acme.membership_ids)
    acme_ids["audit-entry"] = set(acme_audit_ids(acme))
    list_routes = [r for r in api_routes() if r.name.endswith("-list")]
    checked = 0
    for route in list_routes:
        for user in globex_all_roles:
            response = client_for(user).get("/" + route.template)
            if response.status_code == 403:
                continue  # the role may not list this at all (e.g. invitations for viewers)
            assert response.status_code == 200, (route.template, response.status_code)
            body = response.json()
            rows = body["results"] if isinstance(body, dict) else body
            assert rows, f"{route.template} shows {user.username} none of their own rows"
            leaked = {row["id"] for row in rows} & acme_ids[route.basename]
            # ids are per table, so compare only against acme rows of the same model
            assert not leaked, f"{route.template} leaks acme ids {leaked} to {user.username}"
            checked += 1
    with capsys.disabled():
        print(f"\nList isolation: {len(list_routes)} list routes x {len(globex_all_roles)} roles, {checked} checked")


def test_audit_export_never_holds_another_tenants_entries(acme, globex_all_roles, capsys):  # noqa: ANN001
    """The export route takes no id: another tenant's roles get 404 naming acme, their own log (or
    403 by role) without; acme's compliance officer and owner export acme's (positive control)."""
    import json

    acme_ids = set(acme_audit_ids(acme)) or {0}
    victims(acme)  # owen's audited token: acme's log is not empty
    checked = 0
    for user in globex_all_roles:
        client = client_for(user)
        assert client.get("/api/v1/audit/export/", HTTP_X_TENANT="acme").status_code == 404
        response = client.get("/api/v1/audit/export/")
        if user.username.endswith((Role.OPERATOR, Role.VIEWER)):
            assert response.status_code == 403, (user.username, response.status_code)
            continue
        assert response.status_code == 200, (user.username, response.status_code)
        lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
        assert {r["tenant"] for r in lines} == {Membership.unscoped_objects.get(user=user).tenant_id}
        checked += 1
    for name in ("carl", "owen"):
        response = client_for(acme.users[name]).get("/api/v1/audit/export/")
        assert response.status_code == 200
        lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
        assert {r["tenant"] for r in lines} == {acme.tenant.id} and lines[-1]["entries"] >= len(acme_ids)
    with capsys.disabled():
        print(f"\nBOLA audit export: {len(globex_all_roles)} roles of another tenant 404, {checked} own exports clean")


def test_edge_scene_image_upload_is_404_for_another_tenants_device_and_works_for_the_owner(
        acme, globex, acme_scene_image):  # noqa: ANN001
    """The device-signed /edge/ upload route: globex's enrolled device cannot write acme's camera."""
    import cv2
    import numpy as np
    from django.test import Client

    from edge_agent.transport.http import sign_headers
    from tests.cameras.test_edge_auth import enroll, meta

    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    body = buf.tobytes()

    def post(box, camera_id: int) -> int:  # noqa: ANN001
        path = f"/edge/cameras/{camera_id}/scene-image"
        headers = sign_headers(box, "POST", "http://testserver" + path, body)
        return Client().generic("POST", path, body, content_type="image/jpeg", **meta(headers)).status_code

    with tenant_scope(globex.tenant.id):
        from tenants.models import Site

        Site.objects.filter(id=globex.site.id).update(scene_images_allowed=True)
    assert post(enroll(globex), acme.camera.id) == 404
    assert post(enroll(acme), acme.camera.id) == 201


def test_tenant_header_naming_another_tenant_is_404(acme, globex):  # noqa: ANN001
    client = client_for(globex.users["mallory"])
    response = client.get("/api/v1/sites/", HTTP_X_TENANT="acme")
    assert response.status_code == 404


# --- device-signed edge routes: /edge/bundles/<id>/ -------------------------------------------

def test_edge_bundle_download_is_404_for_another_tenants_device_and_works_for_its_own(acme, globex):  # noqa: ANN001
    from edge_agent.transport.http import sign_headers
    from tests.cameras.test_edge_auth import enroll, meta

    artifact = create_artifact(acme, cameras=(acme.camera.id,))
    url = f"/edge/bundles/{artifact.id}/"
    theirs, mine = enroll(globex), enroll(acme)
    client = client_for(globex.users["mallory"])  # a session changes nothing: the signature decides
    refused = client.get(url, **meta(sign_headers(theirs, "GET", "http://testserver" + url)))
    assert refused.status_code == 404, refused.content
    assert client.get(url).status_code == 401  # unsigned
    ok = client.get(url, **meta(sign_headers(mine, "GET", "http://testserver" + url)))
    assert ok.status_code == 200 and ok["X-VAD-Bundle-SHA256"] == artifact.sha256
    assert hashlib.sha256(b"".join(ok.streaming_content)).hexdigest() == artifact.sha256


# --- device-signed edge routes: /edge/devices/<id>/config ------------------------------------

def test_edge_device_config_is_404_for_another_device_and_another_tenants_device_and_works_for_its_own(
        acme, globex, tmp_path):  # noqa: ANN001
    """A config too large for a websocket frame is fetched here: each device reads only its own."""
    from cameras.edgeconfig import config_public_keys
    from cameras.models import EdgeDevice
    from edge_agent.protocol import ConfigPush, config_fetch_path
    from edge_agent.signedconfig import ConfigStore
    from edge_agent.transport.http import sign_headers
    from tests.cameras.test_edge_auth import enroll, meta

    mine, theirs = enroll(acme), enroll(globex)
    with tenant_scope(acme.tenant.id):  # a second device of the same tenant and site, enrolled
        sibling = EdgeDevice.objects.create(site=acme.site, name="box-2")
    acme_sibling = enroll(SimpleNamespace(tenant=acme.tenant, users=acme.users, device=sibling))
    client = client_for(globex.users["mallory"])  # a session changes nothing: the signature decides

    def get(box, device_id: int):  # noqa: ANN001, ANN202
        path = config_fetch_path(device_id)
        return client.get(path, **meta(sign_headers(box, "GET", "http://testserver" + path)))

    for box, whose in ((theirs, "another tenant's device"), (acme_sibling, "another device of the tenant")):
        refused = get(box, acme.device.id)
        assert refused.status_code == 404, (whose, refused.content)
        assert refused.json() == {"detail": f"device {acme.device.id} not found"}
    assert client.get(config_fetch_path(acme.device.id)).status_code == 401  # unsigned
    ok = get(mine, acme.device.id)  # positive control: the device's own signed config, verifiable
    assert ok.status_code == 200 and ok["Cache-Control"] == "no-store"
    push = ConfigPush.model_validate_json(ok.content)
    applied = ConfigStore(tmp_path, config_public_keys(), device_id=acme.device.id).apply(push)
    assert applied.config.device_id == acme.device.id


# --- websocket row: /ws/edge/ with another tenant's camera -----------------------------------

@pytest.mark.django_db(transaction=True)
def test_edge_socket_refuses_another_tenants_camera_and_takes_its_own(acme, globex):  # noqa: ANN001
    from asgiref.sync import async_to_sync

    from detection.models import Alert
    from tests.detection.test_edge_ingest import enroll, event, open_edge, send_recv, welcome_of

    device, key = enroll(globex)

    async def run() -> tuple[dict, dict]:
        ws, out = await open_edge(device.id, key)
        welcome_of(out)
        refused = await send_recv(ws, event(1, acme.camera.id))  # acme's camera from globex's device
        own = await send_recv(ws, event(2, globex.camera.id))  # positive control: its own camera
        await ws.disconnect()
        return refused, own

    refused, own = async_to_sync(run)()
    assert refused["results"][0]["status"] == "rejected" and "not one of this device's cameras" in refused["results"][0]["error"]
    assert own["results"][0]["status"] == "ok"
    with tenant_scope(acme.tenant.id):
        assert not Alert.objects.filter(event_id__isnull=False).exists()


# --- billing rows: /api/v1/billing/... take no id: the tenant is named by X-Tenant -------------

def test_billing_routes_are_404_for_every_role_of_another_tenant_and_work_for_the_owner(
        acme, globex_all_roles, settings):  # noqa: ANN001
    from tenants.billing.models import BillingAccount
    from tests.billing.stripe_stub import configure, running_stub

    bodies = {("billing-status", "get"): {}, ("billing-checkout", "post"): {"plan": "starter"},
              ("billing-portal", "post"): {}}
    routes = [r for r in api_routes() if r.name.startswith("billing-")]
    assert {(r.name, m) for r in routes for m in r.methods} == set(bodies), "add new billing routes here"
    with tenant_scope(acme.tenant.id):
        BillingAccount.objects.create(stripe_customer_id="cus_acme")
    with running_stub() as stub:
        configure(settings, stub, webhook_secret="whsec_bola")
        owner = client_for(acme.users["owen"])
        for route in routes:
            url = "/" + route.template
            for method in route.methods:
                body = bodies[(route.name, method)]
                for user in globex_all_roles:
                    response = getattr(client_for(user), method)(url, body, format="json", HTTP_X_TENANT="acme")
                    assert response.status_code == 404, (method, url, user.username, response.status_code)
                response = getattr(owner, method)(url, body, format="json", HTTP_X_TENANT="acme")
                assert 200 <= response.status_code < 300, (method, url, response.content[:300])
        assert [p.get("customer") for p in stub.calls("POST", "/v1/billing_portal/sessions")] == ["cus_acme"]
        assert len(stub.calls("POST", "/v1/checkout/sessions")) == 1  # only the owner's


# --- websocket rows: ws/alerts/ with another tenant's and another site's alert ids ------------

ACME_ROLES = [Role.OWNER, Role.ADMIN, Role.OPERATOR, Role.COMPLIANCE_OFFICER, Role.VIEWER]
HANDLES_ALERTS = {Role.OWNER, Role.ADMIN, Role.OPERATOR}


async def ws_for(user):  # noqa: ANN001, ANN201
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from vadcloud.asgi import application

    def cookie() -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"),
               (b"cookie", f"sessionid={await sync_to_async(cookie)()}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/alerts/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()  # hello
    return communicator


@pytest.mark.django_db(transaction=True)
def test_alert_socket_answers_4404_for_other_tenants_and_other_sites_alerts_for_every_role(
        acme, globex_all_roles, capsys):  # noqa: ANN001
    from asgiref.sync import async_to_sync
    from django.utils import timezone
    from guardian.shortcuts import assign_perm

    from detection.models import Alert

    limited = {}
    with tenant_scope(acme.tenant.id):
        for role in ACME_ROLES:
            limited[role] = acme.add(f"hq-{role}", role, all_sites=False)
            assign_perm("tenants.view_site", limited[role], acme.site)
        own_alert = {role: Alert.objects.create(camera=acme.camera, started_at=timezone.now(), peak_score=2.0).id
                     for role in ACME_ROLES}
    counts = {"other tenant 4404": 0, "other site 4404": 0, "own site ok": 0, "own site 4403 (role)": 0}

    async def run() -> None:
        for user in globex_all_roles:
            ws = await ws_for(user)
            for alert_id in (acme.alert.id, acme.other_alert.id):
                for kind, reason in (("acknowledge", "investigating"), ("dismiss", "false_alarm")):
                    await ws.send_json_to({"type": kind, "alert_id": alert_id, "reason": reason})
                    reply = await ws.receive_json_from(timeout=5)
                    assert (reply["type"], reply["code"]) == ("error", 4404), (user.username, kind, reply)
                    counts["other tenant 4404"] += 1
            await ws.disconnect()
        for role, user in limited.items():
            ws = await ws_for(user)
            for kind, reason in (("acknowledge", "investigating"), ("dismiss", "false_alarm")):
                await ws.send_json_to({"type": kind, "alert_id": acme.other_alert.id, "reason": reason})
                reply = await ws.receive_json_from(timeout=5)
                assert (reply["type"], reply["code"]) == ("error", 4404), (user.username, kind, reply)
                counts["other site 4404"] += 1
            # positive control on an alert of the member's own site
            await ws.send_json_to({"type": "acknowledge", "alert_id": own_alert[role], "reason": "investigating"})
            reply = await ws.receive_json_from(timeout=5)
            if role in HANDLES_ALERTS:
                while reply["type"] == "alert":  # a push of an earlier ack may come first
                    reply = await ws.receive_json_from(timeout=5)
                assert reply["type"] == "acknowledge.ok", (user.username, reply)
                counts["own site ok"] += 1
            else:
                assert (reply["type"], reply["code"]) == ("error", 4403), (user.username, reply)
                counts["own site 4403 (role)"] += 1
            await ws.disconnect()

    async_to_sync(run)()
    with tenant_scope(acme.tenant.id):
        assert Alert.objects.get(id=acme.other_alert.id).status == "open"
        assert Alert.objects.get(id=acme.alert.id).status == "open"
    with capsys.disabled():
        print("\nBOLA websocket rows (ws/alerts/): " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    assert counts["own site ok"] == len(HANDLES_ALERTS)


# --- portal rows: the alert pages (frontend/urls_alerts.py) ------------------------------------

# (route name, method) -> the owner's positive-control body and the 2xx/3xx it expects
PORTAL_ALERT_CONTROLS = {
    ("alert-detail", "get"): ({}, 200),
    ("alert-acknowledge-page", "post"): ({"reason": "true_positive"}, 302),
    ("alert-dismiss-page", "post"): ({"reason": "fp_shadow"}, 302),
}


def test_portal_alert_pages_are_404_for_another_tenant_and_another_site_and_work_for_the_owner(
        acme, globex, capsys):  # noqa: ANN001
    from guardian.shortcuts import assign_perm

    routes = [(raw, entry.name) for raw, entry in _walk(get_resolver().url_patterns)
              if raw.startswith("alerts/<int:")]
    listed = {name for name, _ in PORTAL_ALERT_CONTROLS}
    assert {name for _, name in routes} == listed, f"portal alert routes without a BOLA row: {routes}"
    outsiders = [globex.add(f"globex-{role}", role) for role in OTHER_TENANT_ROLES]
    with tenant_scope(acme.tenant.id):
        limited = acme.add("hq-operator", Role.OPERATOR, all_sites=False)
        assign_perm("tenants.view_site", limited, acme.site)
    refused = controls = 0
    for raw, name in routes:
        (method,) = [m for n, m in PORTAL_ALERT_CONTROLS if n == name]
        body, expected = PORTAL_ALERT_CONTROLS[(name, method)]
        url = "/" + re.sub(r"<int:\w+>", str(acme.alert.id), raw)
        for user in outsiders:
            response = getattr(portal_client(user, globex.tenant.id), method)(url, body)
            assert response.status_code == 404, (method, url, user.username, response.status_code)
            refused += 1
        other_site_url = "/" + re.sub(r"<int:\w+>", str(acme.other_alert.id), raw)
        response = getattr(portal_client(limited, acme.tenant.id), method)(other_site_url, body)
        assert response.status_code == 404, (method, other_site_url, response.status_code)
        refused += 1
        with transaction.atomic():
            response = getattr(portal_client(acme.users["owen"], acme.tenant.id), method)(url, body)
            assert response.status_code == expected, (method, url, response.status_code, response.content[:300])
            controls += 1
            transaction.set_rollback(True)
    wall = portal_client(outsiders[0], globex.tenant.id).get("/alerts/").content.decode()
    assert f'data-alert-id="{globex.alert.id}"' in wall
    assert not any(f'data-alert-id="{a.id}"' in wall for a in (acme.alert, acme.other_alert))
    with capsys.disabled():
        print(f"\nBOLA portal alert pages: {refused} requests from another tenant or site, all 404; "
              f"owner controls: {controls}, all ok")
    assert controls == len(PORTAL_ALERT_CONTROLS)


# --- portal rows: the sites and compliance pages (frontend/urls_sites.py) -------------------------

# route name -> (method, the owner's positive-control body, the status it expects, the victim's kind)
PORTAL_SITES_CONTROLS = {
    "portal-site-detail": ("get", {}, 200, "site"),
    "portal-consent-withdraw": ("post", {"reason": "bola control"}, 302, "consent"),
    "portal-hold-release": ("post", {}, 302, "legal-hold"),
    "portal-dpia-detail": ("get", {}, 200, "dpia"),
    "portal-dpia-pdf": ("get", {}, 200, "dpia"),
    "portal-dpia-json": ("get", {}, 200, "dpia"),
    "portal-erasure-detail": ("get", {}, 200, "erasure-request"),
}


def test_portal_site_and_compliance_pages_are_404_for_every_role_of_another_tenant_and_work_for_the_owner(
        acme, globex, capsys, settings, tmp_path):  # noqa: ANN001
    from frontend import urls_sites

    use_tmp_export_storage(settings, tmp_path / "exports")
    routes = [(str(p.pattern), p.name) for p in urls_sites.urlpatterns if "<int:" in str(p.pattern)]
    assert {name for _, name in routes} == set(PORTAL_SITES_CONTROLS), \
        f"portal site/compliance routes without a BOLA row: {routes}"
    targets = {"site": acme.site.id, "consent": make_consent(acme).id, "legal-hold": make_hold(acme).id,
               "erasure-request": make_erasure(acme).id, "dpia": make_dpia(acme).id}
    outsiders = [globex.add(f"globex-{role}", role) for role in OTHER_TENANT_ROLES]
    refused = controls = 0
    for raw, name in routes:
        method, body, expected, kind = PORTAL_SITES_CONTROLS[name]
        url = "/" + re.sub(r"<int:\w+>", str(targets[kind]), raw)
        for user in outsiders:
            response = getattr(portal_client(user, globex.tenant.id), method)(url, body)
            assert response.status_code == 404, (method, url, user.username, response.status_code)
            refused += 1
        with transaction.atomic():
            response = getattr(portal_client(acme.users["owen"], acme.tenant.id), method)(url, body)
            assert response.status_code == expected, (method, url, response.status_code, response.content[:300])
            controls += 1
            transaction.set_rollback(True)
    with capsys.disabled():
        print(f"\nBOLA portal site/compliance pages: {refused} requests from another tenant, all 404; "
              f"owner controls: {controls}, all ok")
    assert controls == len(PORTAL_SITES_CONTROLS)


def test_portal_site_page_is_404_for_a_member_limited_to_another_site(acme):  # noqa: ANN001
    from guardian.shortcuts import assign_perm

    with tenant_scope(acme.tenant.id):
        limited = acme.add("hq-only", Role.OPERATOR, all_sites=False)
        assign_perm("tenants.view_site", limited, acme.site)
    client = portal_client(limited, acme.tenant.id)
    assert client.get(f"/sites/{acme.other_site.id}/").status_code == 404
    assert client.get(f"/sites/{acme.site.id}/").status_code == 200


# --- portal rows: the members pages (frontend/urls_kpis.py) ----------------------------------------

# route name -> (the owner's positive-control body, the status it expects, the victim's kind)
PORTAL_MEMBER_CONTROLS = {
    "member-update": ({"role": Role.OPERATOR, "all_sites": "on"}, 302, "membership"),
    "member-remove": ({}, 302, "membership"),
    "invitation-withdraw": ({}, 302, "invitation"),
}


def test_portal_member_pages_are_404_for_another_tenants_managers_and_work_for_the_owner(
        acme, globex, capsys):  # noqa: ANN001
    """Owners and admins of another tenant get 404 for acme's ids; the other roles of that tenant
    are refused by their role (403) whatever the id, so the answer says nothing about acme."""
    from frontend import urls_kpis

    routes = [(str(p.pattern), p.name) for p in urls_kpis.urlpatterns if "<int:" in str(p.pattern)]
    assert {name for _, name in routes} == set(PORTAL_MEMBER_CONTROLS), \
        f"portal member routes without a BOLA row: {routes}"
    with tenant_scope(acme.tenant.id):
        targets = {"membership": Membership.objects.get(user=acme.users["vera"]).id,
                   "invitation": acme.invitation.id}
    outsiders = [globex.add(f"globex-{role}", role) for role in OTHER_TENANT_ROLES]
    refused = controls = 0
    for raw, name in routes:
        body, expected, kind = PORTAL_MEMBER_CONTROLS[name]
        url = "/" + re.sub(r"<int:\w+>", str(targets[kind]), raw)
        missing = "/" + re.sub(r"<int:\w+>", "999999", raw)
        for user in outsiders:
            client = portal_client(user, globex.tenant.id)
            status = client.post(url, body).status_code
            manager = user.username.endswith((Role.OWNER, Role.ADMIN))
            assert status == (404 if manager else 403), (url, user.username, status)
            assert client.post(missing, body).status_code == status  # same answer as for no such id
            refused += 1
        with transaction.atomic():
            response = portal_client(acme.users["owen"], acme.tenant.id).post(url, body)
            assert response.status_code == expected, (url, response.status_code, response.content[:300])
            controls += 1
            transaction.set_rollback(True)
    with capsys.disabled():
        print(f"\nBOLA portal member pages: {refused} requests from another tenant, all refused "
              f"(404 for its managers); owner controls: {controls}, all ok")
    assert controls == len(PORTAL_MEMBER_CONTROLS)


# --- portal rows: the camera, zone editor and device pages (frontend/urls_cameras.py) ---------------

# route name -> the victim's kind and (method, the owner's positive-control body, the status it expects)
PORTAL_CAMERA_CONTROLS = {
    "portal-camera-detail": ("camera", [("get", {}, 200), ("post", {"action": "settings", "name": "Renamed"}, 302),
                                        ("post", {"action": "shift", "shift": "{shift}", "sensitivity": "0.7"}, 302)]),
    "portal-camera-zones": ("camera", [("get", {}, 200)]),
    "portal-device-detail": ("device", [("get", {}, 200), ("post", {"action": "enrollment"}, 200),
                                        ("post", {"action": "command", "command": "reload"}, 302),
                                        ("post", {"action": "revoke"}, 302)]),
}


def test_portal_camera_and_device_pages_are_404_for_another_tenant_and_another_site_and_work_for_the_owner(
        acme, globex, capsys):  # noqa: ANN001
    from guardian.shortcuts import assign_perm

    from frontend import urls_cameras

    routes = [(str(p.pattern), p.name) for p in urls_cameras.urlpatterns if "<int:" in str(p.pattern)]
    assert {name for _, name in routes} == set(PORTAL_CAMERA_CONTROLS), \
        f"portal camera/device routes without a BOLA row: {routes}"
    targets = {"camera": acme.camera.id, "device": acme.device.id}
    outsiders = [globex.add(f"globex-{role}", role) for role in OTHER_TENANT_ROLES]
    with tenant_scope(acme.tenant.id):
        limited = acme.add("berlin-admin", Role.ADMIN, all_sites=False)  # sees acme's Berlin site only
        assign_perm("tenants.view_site", limited, acme.other_site)
    refused = controls = 0
    for raw, name in routes:
        kind, rows = PORTAL_CAMERA_CONTROLS[name]
        url = "/" + re.sub(r"<int:\w+>", str(targets[kind]), raw)
        for method, body, expected in rows:
            body = {k: (str(acme.shift.id) if v == "{shift}" else v) for k, v in body.items()}
            for user, tenant_id in [(u, globex.tenant.id) for u in outsiders] + [(limited, acme.tenant.id)]:
                response = getattr(portal_client(user, tenant_id), method)(url, body)
                assert response.status_code == 404, (method, url, body, user.username, response.status_code)
                refused += 1
            with transaction.atomic():
                response = getattr(portal_client(acme.users["owen"], acme.tenant.id), method)(url, body)
                assert response.status_code == expected, (method, url, body, response.status_code,
                                                          response.content[:300])
                controls += 1
                transaction.set_rollback(True)
    for page, own, theirs in [("/cameras/", f'data-camera="{globex.camera.id}"', f'data-camera="{acme.camera.id}"'),
                              ("/devices/", f'data-device="{globex.device.id}"', f'data-device="{acme.device.id}"')]:
        html = portal_client(outsiders[0], globex.tenant.id).get(page).content.decode()
        assert own in html and theirs not in html, page
    with capsys.disabled():
        print(f"\nBOLA portal camera/device pages: {refused} requests from another tenant or site, all 404; "
              f"owner controls: {controls}, all ok")
    assert controls == sum(len(rows) for _, rows in PORTAL_CAMERA_CONTROLS.values())
