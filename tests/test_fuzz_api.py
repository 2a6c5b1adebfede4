"""Schema-driven fuzzing of the whole HTTP API (schemathesis + hypothesis).

The OpenAPI schema is loaded from the running app (/api/schema/, drf-spectacular) on a live test
server; requests go as an acme admin signed in with a session cookie (every 10th random case keeps
the garbage credentials schemathesis generates for the documented auth schemes). Per operation:
- up to COVERAGE_CASES of schemathesis's coverage phase: boundary and wrong-type values for
  every parameter and field, deterministic;
- MAX_EXAMPLES random valid or invalid cases (derandomized, so a run is repeatable), in which path
  ids, id fields and id filters are partly replaced by ids of acme's objects (so real objects are
  hit) or of globex's (the other tenant), and some integers by numbers beyond 64 bits.

Passes when:
- no response is a 5xx;
- every response whose status is documented matches its documented schema and content type;
- nothing of globex is ever returned: every globex name/note/email carries a marker, and no
  response body of any status contains it;
- afterwards no acme object points at a globex object (no write crossed the tenant line).
The counts are printed at the end (operations, requests, responses by status class, failures).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from cameras.models import Camera, EdgeDevice, Shift, Zone
from detection.models import Alert
from tenants.models import Invitation, Membership, Role, Site
from tenants.scope import tenant_scope
from tests.conftest import World

MAX_EXAMPLES = 15  # random cases per operation
COVERAGE_CASES = 30  # at most this many of schemathesis's boundary cases per operation, spread over all
MARKER = f"GLOBEX-SECRET-{uuid.uuid4().hex}"

pytestmark = pytest.mark.slow

# the path segment of a route -> the model whose ids it takes
RESOURCES = {"tenants": None, "sites": Site, "memberships": Membership, "invitations": Invitation,
             "cameras": Camera, "zones": Zone, "devices": EdgeDevice, "shifts": Shift, "alerts": Alert}
# id-valued fields in bodies and query strings -> the resource they point to
ID_FIELDS = {"site": "sites", "camera": "cameras", "device": "devices", "zone": "zones",
             "site_ids": "sites", "camera_ids": "cameras"}


def _ids(world: World) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {"tenants": [world.tenant.id]}
    with tenant_scope(world.tenant.id):
        for segment, model in RESOURCES.items():
            if model is not None:
                ids[segment] = list(model.objects.values_list("id", flat=True))
    return ids


def _mark_globex(globex: World) -> None:
    """Every name-like column of globex's objects carries MARKER, so a leak is a substring."""
    with tenant_scope(globex.tenant.id):
        for model in (Site, Camera, Zone, EdgeDevice, Shift):
            for obj in model.objects.all():
                model.objects.filter(id=obj.id).update(name=f"{MARKER} {obj.name}")
        Alert.objects.update(note=MARKER)
        Invitation.objects.update(email=f"{MARKER.lower()}@globex.example")
    globex.tenant.name = MARKER
    globex.tenant.save(update_fields=["name"])
    globex.add(f"{MARKER}-admin", Role.ADMIN)


@dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    aimed_at_globex: int = 0  # requests with a globex id in the path, query or body
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # "METHOD path: title" -> first reproducer

    def fail(self, key: str, detail: str) -> None:
        self.failures.setdefault(key, detail)


def no_globex_leak(ctx, response, case) -> bool | None:  # noqa: ANN001  (schemathesis check signature)
    body = response.content.decode("utf-8", "replace")  # binary exports (PDF) are not UTF-8
    if MARKER.lower() in body.lower():
        raise AssertionError(f"response contains globex data (marker {MARKER})")
    return None


@pytest.fixture
def fuzz_world(transactional_db):  # noqa: ANN001, ANN201
    acme = World("acme", "Acme Retail", "alice")
    acme.add("olga", Role.OPERATOR)
    acme.add("owen", Role.OWNER)
    fuzzer = acme.add("fuzzer", Role.ADMIN)
    globex = World("globex", "Globex", "mallory")
    _mark_globex(globex)
    return acme, globex, fuzzer


def _session(fuzzer) -> requests.Session:  # noqa: ANN001
    client = Client()
    client.force_login(fuzzer)
    csrf = secrets.token_hex(16)  # any 32 alphanumerics are a valid CSRF secret
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.cookies.set("csrftoken", csrf)
    # Connection: close - a reused keep-alive connection to the live server waits ~40 ms per
    # request (delayed ACK), which would triple the run time.
    session.headers.update({"X-CSRFToken": csrf, "X-Tenant": "acme", "Connection": "close"})
    return session


def _restore_fuzzer(acme: World, fuzzer) -> None:  # noqa: ANN001
    """The fuzzer may demote or delete its own membership (or sign out); put it back each time."""
    Membership.unscoped_objects.update_or_create(
        tenant=acme.tenant, user=fuzzer, defaults={"role": Role.ADMIN, "all_sites": True})
    get_user_model().objects.filter(id=fuzzer.id).update(is_active=True)


def _drop_generated_auth(case) -> None:  # noqa: ANN001
    """The schema documents bearer and cookie auth, so schemathesis fills them with random values."""
    for container, names in ((case.headers, ("Authorization",)), (case.cookies, ("sessionid", "csrftoken"))):
        for name in names:
            if container:
                container.pop(name, None)


HUGE_INTS = [2**63, 2**64 + 1, 10**23, -(2**63) - 1]  # beyond every database integer column


def _enlarge_ints(case, draw) -> None:  # noqa: ANN001
    """Replace some generated integers (query values, body fields, list items) by HUGE_INTS:
    hypothesis rarely draws a number beyond 64 bits for an unbounded integer on its own."""
    def maybe(value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and draw(st.sampled_from([False, False, True])):
            return draw(st.sampled_from(HUGE_INTS))
        return value

    for container in (case.query, case.body):
        if isinstance(container, dict):
            for key, value in container.items():
                container[key] = [maybe(item) for item in value] if isinstance(value, list) else maybe(value)


def _retarget(case, draw, acme_ids: dict[str, list[int]], globex_ids: dict[str, list[int]]) -> bool:  # noqa: ANN001
    """Point some generated ids at real acme objects or at globex's; True when a globex id was used."""
    used_globex = False

    def pick(segment: str) -> int | None:
        nonlocal used_globex
        source = draw(st.sampled_from(["acme", "globex", "generated"]))
        pool = {"acme": acme_ids, "globex": globex_ids}.get(source, {}).get(segment)
        used_globex |= bool(pool) and source == "globex"
        return draw(st.sampled_from(pool)) if pool else None

    match = re.match(r"/api/v1/(?:me/)?([a-z-]+)/\{", case.operation.path)
    if case.path_parameters and match and match.group(1) in RESOURCES:
        for name in case.path_parameters:
            if (value := pick(match.group(1))) is not None:
                case.path_parameters[name] = value
    for container in (case.query, case.body):
        if not isinstance(container, dict):
            continue
        for key, segment in ID_FIELDS.items():
            if key in container and (value := pick(segment)) is not None:
                container[key] = [value] if key.endswith("_ids") else value
    return used_globex


@dataclass
class Target:
    base_url: str
    session: requests.Session
    acme: World
    fuzzer: object
    acme_ids: dict[str, list[int]]
    globex_ids: dict[str, list[int]]


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, no_globex_leak]


def _send(case, target: Target, tally: Tally) -> None:  # noqa: ANN001
    """One request; its check failures go to the tally, the first reproducer kept per failure kind."""
    label = f"{case.operation.method.upper()} {case.operation.path}"
    try:
        response = case.call(base_url=target.base_url, session=target.session)
    except requests.RequestException as err:
        tally.fail(f"{label}: {type(err).__name__}", str(err)[:300])
        return
    tally.requests += 1
    tally.statuses[f"{response.status_code // 100}xx"] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        for failure in group.exceptions:
            tally.fail(f"{label}: {failure.title}",
                       f"{case.as_curl_command(headers=dict(response.request.headers))}\n"
                       f"    -> {response.status_code} {response.text[:300]!r}\n    {failure.message[:600]}")


def _coverage(operation, target: Target, tally: Tally) -> None:  # noqa: ANN001
    """Schemathesis's coverage phase: boundary and wrong-type values for each parameter and field
    (2**63 for an int64 id, arrays beyond maxItems, ...), deterministic; a spread sample of them."""
    cases = list(CoverageGenerator(
        operation=operation, generation_modes=list(schemathesis.GenerationMode),
        generation_config=operation.schema.config.generation_for(operation=operation),
        auth_storage=None, override=Override(), feedback=FeedbackSources()))
    step = max(1.0, len(cases) / COVERAGE_CASES)
    for index in range(min(len(cases), COVERAGE_CASES)):
        case = cases[int(index * step)]
        _drop_generated_auth(case)
        _restore_fuzzer(target.acme, target.fuzzer)
        _send(case, target, tally)


def _fuzz(operation, target: Target, tally: Tally) -> None:  # noqa: ANN001
    """MAX_EXAMPLES random valid or invalid requests to one operation, ids partly retargeted."""
    sent = [0]
    strategy = st.one_of(operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
                         operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data) -> None:  # noqa: ANN001
        case = data.draw(strategy)
        sent[0] += 1
        if sent[0] % 10:  # 9 in 10 cases: our session; every 10th keeps the generated (garbage) credentials
            _drop_generated_auth(case)
        aimed_at_globex = _retarget(case, data.draw, target.acme_ids, target.globex_ids)
        _enlarge_ints(case, data.draw)
        _restore_fuzzer(target.acme, target.fuzzer)
        tally.aimed_at_globex += aimed_at_globex
        _send(case, target, tally)

    run()


def _cross_tenant_references() -> list[str]:
    """Objects whose foreign key points into another tenant (unscoped: this is the audit)."""
    links = [(Camera, "site"), (Camera, "device"), (EdgeDevice, "site"), (Zone, "camera"), (Shift, "site"),
             (Alert, "camera"), (Alert, "zone")]
    found = []
    for model, fk in links:
        rows = (model.unscoped_objects.filter(**{f"{fk}__isnull": False})
                .exclude(**{f"{fk}__tenant_id": F("tenant_id")}).values_list("id", flat=True))
        found += [f"{model.__name__} {pk}.{fk}" for pk in rows]
    return found


def test_fuzz_api_never_fails_and_never_leaks(fuzz_world, live_server, capsys):  # noqa: ANN001
    acme, globex, fuzzer = fuzz_world
    base_url = live_server.url.replace("//localhost:", "//127.0.0.1:")  # no IPv6 attempt per request
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json")
    target = Target(base_url, _session(fuzzer), acme, fuzzer, _ids(acme), _ids(globex))
    tally = Tally()
    for result in schema.get_all_operations():
        tally.operations += 1
        _coverage(result.ok(), target, tally)
        _fuzz(result.ok(), target, tally)

    with capsys.disabled():
        print(f"\nAPI fuzz: {tally.operations} operations, {tally.requests} requests "
              f"({tally.aimed_at_globex} aimed at globex ids), responses {dict(sorted(tally.statuses.items()))}, "
              f"{len(tally.failures)} failures")
        for key, detail in tally.failures.items():
            print(f"  FAIL {key}\n    {detail}")
    assert tally.operations >= 30, "the schema lost operations; is /api/schema/ complete?"
    assert tally.requests >= tally.operations * MAX_EXAMPLES
    assert not tally.failures, f"{len(tally.failures)} fuzz failures: {sorted(tally.failures)}"
    assert _cross_tenant_references() == []
