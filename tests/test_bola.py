"""BOLA matrix: every API route that takes an object id answers 404 to every role of another
tenant, and no list route shows another tenant's rows.

Routes are enumerated from the URLconf, so a new route without a target here fails the test
instead of being forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tenants.models import Membership, Role
from tenants.scope import tenant_scope
from tests.conftest import World, client_for

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
            methods = tuple(sorted(actions))
        else:
            view_class = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            methods = tuple(m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m))
        template = raw.replace("(?P<pk>[^/.]+)", "{pk}").replace("^", "").replace("$", "")
        if "(?P<format>" in template:
            continue  # format-suffix duplicates
        routes.append(Route(template, entry.name, methods, "{pk}" in template))
    return routes


def victims(acme: World) -> dict[str, int]:
    """The acme object each id-taking route is aimed at, by router basename."""
    with tenant_scope(acme.tenant.id):
        alice_membership = Membership.objects.get(user=acme.users["alice"])
    return {
        "tenant": acme.tenant.id,
        "site": acme.site.id,
        "membership": alice_membership.id,
        "invitation": acme.invitation.id,
        "camera": acme.camera.id,
        "zone": acme.zone.id,
        "device": acme.device.id,
        "shift": acme.shift.id,
        "alert": acme.alert.id,
    }


@pytest.fixture
def globex_all_roles(globex: World) -> list:
    users = [globex.add(f"globex-{role}", role) for role in OTHER_TENANT_ROLES]
    return users


def test_every_id_route_answers_404_to_every_role_of_another_tenant(acme, globex_all_roles, capsys):  # noqa: ANN001
    targets = victims(acme)
    id_routes = [r for r in api_routes() if r.needs_pk]
    missing = sorted({r.basename for r in id_routes} - set(targets))
    assert not missing, f"routes without a BOLA target: {missing}; add them to victims()"

    checked = 0
    for route in id_routes:
        url = "/" + route.template.format(pk=targets[route.basename])
        for user in globex_all_roles:
            client = client_for(user)
            for method in route.methods:
                response = getattr(client, method)(url, {}, format="json")
                assert response.status_code == 404, (
                    f"{method.upper()} {url} as {user.username}: {response.status_code} {response.content[:200]!r}"
                )
                checked += 1
    with capsys.disabled():
        print(f"\nBOLA matrix: {len(id_routes)} id routes x {len(globex_all_roles)} roles "
              f"= {len(id_routes) * len(globex_all_roles)} route-role pairs, {checked} requests, all 404")
    assert len(id_routes) >= 10


def test_list_routes_never_show_another_tenants_rows(acme, globex_all_roles, capsys):  # noqa: ANN001
    acme_ids = {name: {pk} for name, pk in victims(acme).items()}
    acme_ids["camera"].add(acme.other_camera.id)
    acme_ids["site"].add(acme.other_site.id)
    acme_ids["alert"].add(acme.other_alert.id)
    acme_ids["membership"] |= set(acme.membership_ids)
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


def test_tenant_header_naming_another_tenant_is_404(acme, globex):  # noqa: ANN001
    client = client_for(globex.users["mallory"])
    response = client.get("/api/v1/sites/", HTTP_X_TENANT="acme")
    assert response.status_code == 404
