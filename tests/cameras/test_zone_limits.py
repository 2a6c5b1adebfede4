"""Zone polygons: at most 500 points, refused before they are parsed, and the vectorised
self-intersection check gives exactly the verdicts and messages of the pairwise loop it replaced."""

from __future__ import annotations

import math
import random

import pytest

from cameras.geometry import MAX_POLYGON_POINTS, PolygonError, parse_points, segments_intersect, validate_polygon
from cameras.models import Zone
from tenants.scope import tenant_scope
from tests.conftest import SQUARE, client_for


def reference_validate_polygon(raw: object) -> list[tuple[float, float]]:
    """The O(n^2) implementation this module's code replaced, kept verbatim as the oracle."""
    points = parse_points(raw)
    if len(points) < 3:
        raise PolygonError(f"a polygon needs at least 3 points, got {len(points)}")
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a vertex
            if segments_intersect(*edges[i], *edges[j]):
                raise PolygonError(f"polygon edges {i} and {j} cross: the polygon is self-intersecting")
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in edges) / 2
    if abs(area) < 1e-9:
        raise PolygonError("polygon has zero area")
    return points


def outcome(validate, raw: object) -> tuple[str, object]:  # noqa: ANN001
    try:
        return "ok", validate(raw)
    except PolygonError as err:
        return "error", str(err)


def star(n: int, rng: random.Random | None = None) -> list[list[float]]:
    """A valid polygon of n points: star-shaped around the centre (convex without rng)."""
    radii = [0.1 + 0.35 * rng.random() if rng else 0.4 for _ in range(n)]
    return [[0.5 + r * math.cos(2 * math.pi * k / n), 0.5 + r * math.sin(2 * math.pi * k / n)]
            for k, r in enumerate(radii)]


def random_polygon(rng: random.Random) -> list[list[float]]:
    n = rng.randint(3, 14)
    grid = rng.choice([1, 2, 3, 4, 10, None])  # small grids: collinear points, shared vertices, overlaps
    if grid is None:
        return [[rng.random(), rng.random()] for _ in range(n)]
    return [[rng.randint(0, grid) / grid, rng.randint(0, grid) / grid] for _ in range(n)]


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_check_matches_the_pairwise_reference_on_random_polygons(seed: int) -> None:
    rng = random.Random(seed)
    seen = set()
    for _ in range(1500):
        points = random_polygon(rng)
        got, expected = outcome(validate_polygon, points), outcome(reference_validate_polygon, points)
        assert got == expected, points
        seen.add("ok" if got[0] == "ok" else "crossing" if "cross" in str(got[1]) else str(got[1]))
    assert seen == {"ok", "crossing", "polygon has zero area"}  # the sample exercises every outcome


@pytest.mark.parametrize("n", [4, 5, 37, 120, 300])
def test_vectorised_check_matches_the_reference_on_large_polygons_with_one_crossing_moved_about(n: int) -> None:
    rng = random.Random(n)
    points = star(n, rng)
    assert outcome(validate_polygon, points) == outcome(reference_validate_polygon, points) == ("ok", parse_points(points))
    for _ in range(6):
        bent = [list(p) for p in points]
        a, b = rng.sample(range(n), 2)
        bent[a], bent[b] = bent[b], bent[a]  # swapping two vertices makes edges cross (or touch)
        bent[rng.randrange(n)] = [0.5, 0.5]  # a vertex at the centre: a spike through the polygon
        assert outcome(validate_polygon, bent) == outcome(reference_validate_polygon, bent)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([[0, 0], [1, 1], [1, 0], [0, 1]], "polygon edges 0 and 2 cross"),  # a bow tie
        ([[0, 0], [0.5, 0], [1, 0], [1, 1], [0.5, 0]], "polygon edges 0 and 3 cross"),  # revisits a vertex
        ([[0, 0], [1, 0], [1, 1], [0.5, 0], [0, 1]], "polygon edges 0 and 2 cross"),  # a vertex touches an edge
        ([[0, 0], [0.6, 0], [0.6, 0.5], [0.3, 0.5], [0.3, 0], [0, 0.5]], "polygon edges 0 and 3 cross"),  # overlap
        ([[0.1, 0.1], [0.9, 0.1], [0.5, 0.1]], "polygon has zero area"),
    ],
)
def test_touching_and_collinear_edges_count_as_crossing(points: list, expected: str) -> None:
    assert outcome(reference_validate_polygon, points)[1].startswith(expected)
    with pytest.raises(PolygonError, match=expected):
        validate_polygon(points)


@pytest.fixture
def alice(acme):  # noqa: ANN001, ANN201
    return client_for(acme.users["alice"])


def post_zone(client, acme, points, kind: str = "roi"):  # noqa: ANN001, ANN201
    return client.post("/api/v1/zones/", {"camera": acme.camera.id, "name": "Big", "kind": kind, "points": points},
                       format="json")


def test_polygon_at_the_point_cap_is_accepted(alice, acme):  # noqa: ANN001
    response = post_zone(alice, acme, star(MAX_POLYGON_POINTS))
    assert response.status_code == 201, response.content
    assert len(response.json()["points"]) == 500


def test_polygon_over_the_point_cap_is_a_points_error_naming_the_cap_and_the_count(alice, acme):  # noqa: ANN001
    response = post_zone(alice, acme, star(MAX_POLYGON_POINTS + 1))
    assert response.status_code == 400
    assert response.json()["points"] == ["a polygon may have at most 500 points, got 501"]
    with tenant_scope(acme.tenant.id):
        assert not Zone.objects.filter(name="Big").exists()


def test_huge_polygon_is_refused_by_its_count_before_its_points_are_read(alice, acme):  # noqa: ANN001
    # 60,000 points, the last of them not even a point: the count decides, no point is parsed.
    points = [[0.5, 0.5]] * 59_999 + ["not a point"]
    response = post_zone(alice, acme, points)
    assert response.status_code == 400
    assert response.json()["points"] == ["a polygon may have at most 500 points, got 60000"]


def test_huge_line_zone_is_refused_by_its_count(alice, acme):  # noqa: ANN001
    response = post_zone(alice, acme, [[0.5, 0.5]] * 5_000 + ["x"], kind="line")
    assert response.status_code == 400
    assert response.json()["points"] == ["a line zone needs exactly 2 points, got 5001"]


def test_patching_a_zone_with_too_many_points_keeps_the_old_ones(alice, acme):  # noqa: ANN001
    response = alice.patch(f"/api/v1/zones/{acme.zone.id}/", {"points": star(501)}, format="json")
    assert response.status_code == 400 and "at most 500 points" in response.json()["points"][0]
    with tenant_scope(acme.tenant.id):
        assert Zone.objects.get(id=acme.zone.id).points == SQUARE


def test_camera_created_with_an_oversized_zone_is_refused_whole(alice, acme):  # noqa: ANN001
    payload = {"site": acme.site.id, "name": "Hall", "zones": [{"name": "ok", "kind": "roi", "points": SQUARE},
                                                              {"name": "big", "kind": "roi", "points": star(700)}]}
    response = alice.post("/api/v1/cameras/", payload, format="json")
    assert response.status_code == 400
    assert "at most 500 points, got 700" in str(response.json()["zones"])


def test_reported_crossing_through_the_api_is_the_references_first_pair(alice, acme):  # noqa: ANN001
    points = star(200, random.Random(7))
    points[150], points[40] = points[40], points[150]
    expected = outcome(reference_validate_polygon, points)
    assert expected[0] == "error"
    response = post_zone(alice, acme, points)
    assert response.status_code == 400
    assert response.json()["points"] == [expected[1]]
