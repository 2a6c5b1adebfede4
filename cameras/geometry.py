"""Validation of zone polygons in normalised image coordinates (0..1, origin top-left)."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


class PolygonError(ValueError):
    pass


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(a: Point, b: Point, c: Point, d: Point) -> bool:
    d1, d2, d3, d4 = _orient(c, d, a), _orient(c, d, b), _orient(a, b, c), _orient(a, b, d)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return any(
        o == 0 and _on_segment(s, e, p)
        for o, s, e, p in ((d1, c, d, a), (d2, c, d, b), (d3, a, b, c), (d4, a, b, d))
    )


def parse_points(raw: object) -> list[Point]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise PolygonError("points must be a list of [x, y] pairs")
    points: list[Point] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise PolygonError(f"point {i} must be a pair [x, y], got {item!r}")
        x, y = item
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
            raise PolygonError(f"point {i} must hold numbers, got {item!r}")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise PolygonError(f"point {i} {[x, y]} is outside the image: coordinates are normalised to 0..1")
        points.append((float(x), float(y)))
    return points


def validate_polygon(raw: object) -> list[Point]:
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


def validate_line(raw: object) -> list[Point]:
    points = parse_points(raw)
    if len(points) != 2:
        raise PolygonError(f"a line zone needs exactly 2 points, got {len(points)}")
    if points[0] == points[1]:
        raise PolygonError("a line zone needs two distinct points")
    return points
