"""Bad input is a 4xx with a specific message, never a 500 (README "Input limits").

Each refused request sits next to a positive control: the same request made valid succeeds.
Before these limits, the deep bodies, the 64-bit overflows, the oversized ``limit`` and the cursor
with a bad position were 500s; the other cases were silently accepted (or a 404 for a bad cursor).
"""

from __future__ import annotations

import json
from base64 import b64encode
from urllib.parse import urlencode

import pytest

from cameras.models import Zone
from tenants.api.fields import MAX_ID, MAX_ID_LIST
from tenants.api.pagination import MAX_PAGE_SIZE
from tenants.models import Membership, Site
from tenants.scope import tenant_scope
from tests.conftest import SQUARE, client_for
from tests.test_bola import acme_scene_image, api_routes, victims  # noqa: F401 (a fixture)
from vadcloud.jsonlimits import JsonLimitError, json_depth, parse_json_limited

HUGE = 99999999999999999999999  # beyond 64 bits: the database driver's OverflowError


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def post_json(client, url: str, text: str):  # noqa: ANN001, ANN201
    return client.generic("POST", url, text, content_type="application/json")


def olga_membership_id(acme) -> int:  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        return Membership.objects.get(user=acme.users["olga"]).id


# --- JSON nesting depth and body size -------------------------------------------------------


@pytest.mark.parametrize(("user", "url", "valid"), [
    ("vera", "/api/v1/me/tenant/", {"tenant": "acme"}),  # any member, any role
    ("olga", "/api/v1/alerts/{alert}/acknowledge/", {"reason": "confirmed_incident"}),
    ("alice", "/api/v1/sites/", {"name": "Depot", "jurisdiction": "DE", "timezone": "UTC"}),
])
def test_deeply_nested_json_is_a_400_naming_the_limit(acme, user, url, valid):  # noqa: ANN001
    client = client_for(acme.users[user])
    url = url.format(alert=acme.alert.id)
    deep_text = json.dumps(valid)[:-1] + ', "extra": ' + "[" * 5000 + "1" + "]" * 5000 + "}"  # json.dumps recurses
    deep = post_json(client, url, deep_text)
    assert deep.status_code == 400
    assert deep.json()["detail"].startswith("JSON nesting deeper than 20 levels")
    ok = client.post(url, valid, format="json")
    assert ok.status_code in (200, 201), ok.content


def test_twenty_levels_are_accepted_and_twenty_one_are_not(acme):  # noqa: ANN001
    vera = client_for(acme.users["vera"])
    at_limit = post_json(vera, "/api/v1/me/tenant/", json.dumps({"tenant": "acme", "extra": nested(19)}))
    assert at_limit.status_code == 200, at_limit.content  # the object itself is level 1
    beyond = post_json(vera, "/api/v1/me/tenant/", json.dumps({"tenant": "acme", "extra": nested(20)}))
    assert beyond.status_code == 400
    assert beyond.json()["detail"] == "JSON nesting deeper than 20 levels (21)"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_body_over_one_mebibyte_is_a_413(acme, content_type):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    fields = {"name": "Depot", "jurisdiction": "DE", "timezone": "UTC"}
    encode = json.dumps if content_type == "application/json" else urlencode
    big = alice.generic("POST", "/api/v1/sites/", encode({**fields, "address": "x" * (1024 * 1024)}),
                        content_type=content_type)
    assert big.status_code == 413
    assert big.json()["detail"] == "request body larger than 1048576 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
    ok = alice.generic("POST", "/api/v1/sites/", encode(fields), content_type=content_type)
    assert ok.status_code == 201, ok.content


@pytest.mark.parametrize(("number", "message"), [("1e999", "number 1e999 is out of range"),
                                                 ("NaN", "NaN is not a JSON number"),
                                                 ("-Infinity", "-Infinity is not a JSON number")])
def test_numbers_beyond_a_double_are_refused_by_the_parser(acme, number, message):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    body = {"camera": acme.camera.id, "name": "Z", "kind": "roi", "points": SQUARE}
    text = json.dumps(body).replace("0.5, 0.5", f"{number}, 0.5", 1)
    refused = post_json(alice, "/api/v1/zones/", text)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith(message)
    ok = post_json(alice, "/api/v1/zones/", json.dumps(body))
    assert ok.status_code == 201, ok.content
    with tenant_scope(acme.tenant.id):
        assert Zone.objects.filter(name="Z").count() == 1


# --- parse_json_limited, the same limits for the websocket consumers ------------------------


def test_parse_json_limited_counts_only_brackets_outside_strings():
    text = json.dumps({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{", "b": ["\\\"]]]]", nested(18)]})
    assert json_depth(text) == 20
    assert parse_json_limited(text)["a"].startswith("[[[")
    with pytest.raises(JsonLimitError, match=r"^JSON nesting deeper than 20 levels \(21\)$"):
        parse_json_limited(json.dumps({"b": [nested(19)]}))


@pytest.mark.parametrize(("text", "message"), [
    (b"\xff{}", "JSON must be UTF-8"),
    ('{"a": 1', "invalid JSON: Expecting ',' delimiter at line 1 column 8"),
    ("1" * 5000, "invalid JSON: Exceeds the limit (4300 digits)"),
    ('{"a": "' + "x" * 100 + '"}', "JSON message larger than 64 bytes"),
])
def test_parse_json_limited_names_what_is_wrong(text, message):  # noqa: ANN001
    with pytest.raises(JsonLimitError) as err:
        parse_json_limited(text, max_bytes=64 if "x" * 100 in str(text) else None)
    assert str(err.value).startswith(message)
    assert isinstance(err.value, ValueError)


@pytest.mark.timeout(60)  # a scan that restarts at every quote takes minutes on this input
@pytest.mark.parametrize("text", ['\\"' * 300_000, '"' + "\\" * 300_001, '["' + "[" * 300_000])
def test_the_depth_scan_survives_unterminated_strings(text):  # noqa: ANN001
    with pytest.raises(JsonLimitError, match="^invalid JSON"):
        parse_json_limited(text)


# --- integer ranges on ids ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["site", "camera"])
@pytest.mark.parametrize("value", [HUGE, MAX_ID + 1, 0, -1])
def test_alert_filter_ids_out_of_range_are_field_errors(acme, name, value):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    refused = alice.get("/api/v1/alerts/", {name: value})
    assert refused.status_code == 400
    assert "9223372036854775807" in refused.json()[name][0]
    target = acme.site.id if name == "site" else acme.camera.id
    ok = alice.get("/api/v1/alerts/", {name: target})
    assert ok.status_code == 200 and [row["id"] for row in ok.json()["results"]] == [acme.alert.id]
    assert alice.get("/api/v1/alerts/", {name: MAX_ID}).json()["results"] == []


@pytest.mark.parametrize("field", ["site_ids", "camera_ids"])
def test_membership_grant_ids_beyond_64_bits_are_field_errors(acme, field):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    url = f"/api/v1/memberships/{olga_membership_id(acme)}/"
    refused = alice.patch(url, {"all_sites": False, field: [HUGE]}, format="json")
    assert refused.status_code == 400
    assert "from 1 to 9223372036854775807" in refused.json()[field]["0"][0]
    target = acme.site.id if field == "site_ids" else acme.camera.id
    ok = alice.patch(url, {"all_sites": False, field: [target]}, format="json")
    assert ok.status_code == 200, ok.content


def test_membership_grants_take_at_most_a_thousand_ids(acme):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    url = f"/api/v1/memberships/{olga_membership_id(acme)}/"
    refused = alice.patch(url, {"site_ids": [acme.site.id] * (MAX_ID_LIST + 1)}, format="json")
    assert refused.status_code == 400
    assert "no more than 1000 elements" in refused.json()["site_ids"][0]
    ok = alice.patch(url, {"site_ids": [acme.site.id] * MAX_ID_LIST}, format="json")
    assert ok.status_code == 200, ok.content


@pytest.mark.parametrize("bad_id", ["99999999999999999999", str(MAX_ID + 1), "abc", "-1", "0"])
@pytest.mark.usefixtures("acme_scene_image")  # the scene-image route's GET answers 200
def test_a_huge_or_non_numeric_path_id_is_a_404_on_every_id_route(acme, bad_id):  # noqa: ANN001
    """Already true before these limits (Django 5 answers an out-of-range lookup with no rows);
    pinned here, for the admin (get_object) and for a viewer refused by role
    (raise_if_object_missing), because it must stay a 404 and never become a 500."""
    targets = victims(acme)
    admin, viewer = client_for(acme.users["owen"]), client_for(acme.users["vera"])
    routes = [route for route in api_routes() if route.needs_pk]
    for route in routes:
        for method in route.methods:
            for client in (admin, viewer):
                response = getattr(client, method)("/" + route.template.format(pk=bad_id), {}, format="json")
                assert response.status_code == 404, (method, route.template, response.status_code, response.content)
        ok = admin.get("/" + route.template.format(pk=targets[route.basename])) if "get" in route.methods else None
        assert ok is None or ok.status_code == 200, (route.template, ok.status_code)
    assert len(routes) >= 10


# --- pagination -----------------------------------------------------------------------------


@pytest.fixture
def many_sites(acme):  # noqa: ANN001, ANN201
    with tenant_scope(acme.tenant.id):
        Site.objects.bulk_create(Site(tenant_id=acme.tenant.id, name=f"Store {i}", jurisdiction="DE",
                                      timezone="UTC") for i in range(MAX_PAGE_SIZE + 10))
    return acme


@pytest.mark.parametrize("limit", [HUGE, 10_000, MAX_PAGE_SIZE + 1])
def test_a_page_is_at_most_200_rows(many_sites, limit):  # noqa: ANN001
    alice = client_for(many_sites.users["alice"])
    page = alice.get("/api/v1/sites/", {"limit": limit})
    assert page.status_code == 200
    body = page.json()
    assert len(body["results"]) == MAX_PAGE_SIZE and body["next"] and body["count"] == MAX_PAGE_SIZE + 12
    assert len(alice.get("/api/v1/sites/", {"limit": 7}).json()["results"]) == 7


@pytest.mark.parametrize(("param", "value", "message"), [
    ("limit", "abc", "limit must be a whole number from 1, got 'abc'"),
    ("limit", "0", "limit must be a whole number from 1, got '0'"),
    ("limit", "-5", "limit must be a whole number from 1, got '-5'"),
    ("offset", "-1", "offset must be a whole number from 0, got '-1'"),
    ("offset", str(HUGE), f"offset must be at most 9223372036854775807, got '{HUGE}'"),
])
def test_bad_limit_or_offset_is_a_400_naming_the_value(acme, param, value, message):  # noqa: ANN001
    alice = client_for(acme.users["alice"])
    refused = alice.get("/api/v1/sites/", {param: value})
    assert refused.status_code == 400
    assert refused.json() == {param: [message]}
    ok = alice.get("/api/v1/sites/", {"limit": 1, "offset": 1})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 1


def cursor(**tokens: str) -> str:
    return b64encode(urlencode(tokens).encode()).decode()


@pytest.mark.parametrize(("value", "why"), [
    ("garbage!", "not base64 text"),
    (b64encode(b"o=x").decode(), "offset must be a whole number"),
    (cursor(o="0", r="0", p="not-a-date"), "position is not a started_at value"),
    (cursor(o="0", r="0", p="9999-12-31 23:59:59-12:00"), "position is not a started_at value"),
    (cursor(o="99999", r="0"), "offset must be a whole number from 0 to 1000"),
    (cursor(o=str(HUGE), r="0"), "offset must be a whole number from 0 to 1000"),
    (cursor(o="0", r="7"), "direction must be 0 or 1"),
])
def test_a_tampered_alert_cursor_is_a_400_invalid_cursor(acme, value, why):  # noqa: ANN001
    olga = client_for(acme.users["olga"])
    refused = olga.get("/api/v1/alerts/", {"cursor": value})
    assert refused.status_code == 400
    message = refused.json()["cursor"][0]
    assert message.startswith("invalid cursor (") and why in message
    first = olga.get("/api/v1/alerts/", {"page_size": 1}).json()
    second = olga.get(first["next"])
    assert second.status_code == 200
    assert [row["id"] for row in first["results"] + second.json()["results"]] == [acme.alert.id, acme.other_alert.id]


@pytest.mark.parametrize(("page_size", "status", "rows"), [("abc", 400, None), ("0", 400, None),
                                                           (str(HUGE), 200, 2), ("1", 200, 1)])
def test_alert_page_size_is_a_whole_number_capped_at_200(acme, page_size, status, rows):  # noqa: ANN001
    response = client_for(acme.users["olga"]).get("/api/v1/alerts/", {"page_size": page_size})
    assert response.status_code == status
    if rows is None:
        assert response.json() == {"page_size": [f"page_size must be a whole number from 1, got '{page_size}'"]}
    else:
        assert len(response.json()["results"]) == rows


ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


@pytest.mark.parametrize("spell", [
    lambda pk: str(pk).translate(ARABIC_INDIC),  # int() reads these digits too
    lambda pk: f"0_{pk}",  # and underscores
    lambda pk: f"+{pk}",
    lambda pk: f"{pk}.0",
])
def test_object_ids_in_urls_are_ascii_digits_only(acme, spell):  # noqa: ANN001
    from urllib.parse import quote

    alice = client_for(acme.users["alice"])
    assert alice.get(f"/api/v1/sites/{acme.site.id}/").status_code == 200  # positive control
    assert alice.get(f"/api/v1/sites/{quote(spell(acme.site.id))}/").status_code == 404


def test_an_oversized_form_post_with_a_session_is_a_json_413_not_an_html_page(acme):  # noqa: ANN001
    """The CSRF middleware reads the body before DRF does; Django refuses it there."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(acme.users["alice"])
    browser.get("/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    fields = {"name": "Depot", "jurisdiction": "DE", "timezone": "UTC", "csrfmiddlewaretoken": token}
    big = browser.post("/api/v1/sites/", {**fields, "address": "x" * (1024 * 1024)}, HTTP_X_CSRFTOKEN=token)
    assert big.status_code == 413
    assert big.json()["detail"] == "request body larger than 1048576 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
    ok = browser.post("/api/v1/sites/", fields, HTTP_X_CSRFTOKEN=token)  # positive control
    assert ok.status_code == 201, ok.content
