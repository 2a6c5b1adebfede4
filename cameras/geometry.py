"""Validation of zone polygons in normalised image coordinates (0..1, origin top-left).

A polygon holds at most ``MAX_POLYGON_POINTS`` points, checked before any point is parsed. The
self-intersection check tests every pair of non-neighbouring edges (a crossing, or one edge
touching another, collinear overlap included) with the orientation predicates of
``segments_intersect``, vectorised with numpy (an n x n matrix, in blocks of rows): the same
float operations in the same order as the scalar code, so the verdict and the reported pair (the
first in ``(i, j)`` order) are those of the pairwise loop. ``python manage.py bench_zones`` times it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]

MAX_POLYGON_POINTS = 500
_ROWS_PER_BLOCK = 64  # rows of the orientation matrix computed at once (64 x 500 floats: 256 KB)


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


def _first_crossing(points: list[Point]) -> tuple[int, int] | None:
    """The first pair ``i < j`` of non-neighbouring edges that cross or touch, in row-major order.

    Edge ``i`` runs from vertex ``i`` to vertex ``i + 1`` (mod n). ``m[i, j]`` is
    ``_orient(p[i], p[i + 1], p[j])``, vertex ``j`` against edge ``i``, computed with the same float
    operations as ``_orient``; ``segments_intersect(edge i, edge j)`` reads ``m[j, i]``,
    ``m[j, i + 1]``, ``m[i, j]`` and ``m[i, j + 1]``.
    """
    n = len(points)
    if n < 4:
        return None  # every pair of edges of a triangle shares a vertex
    p = np.asarray(points, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    nx, ny = np.roll(x, -1), np.roll(y, -1)
    ex, ey = nx - x, ny - y
    sign = np.empty((n, n), dtype=np.int8)  # sign of m
    zero_rows, zero_cols = [], []
    for start in range(0, n, _ROWS_PER_BLOCK):  # blocks of rows: small float temporaries, reused
        rows = slice(start, start + _ROWS_PER_BLOCK)
        m = np.subtract(y[None, :], y[rows, None])
        m *= ex[rows, None]
        dx = np.subtract(x[None, :], x[rows, None])
        dx *= ey[rows, None]
        m -= dx
        np.subtract((m > 0).view(np.int8), (m < 0).view(np.int8), out=sign[rows])
        r, c = np.nonzero(m == 0)
        zero_rows.append(r + start)
        zero_cols.append(c)
    # Proper crossing: vertices j, j+1 strictly on opposite sides of edge i, and i, i+1 of edge j.
    apart = (sign * np.roll(sign, -1, axis=1)) < 0
    hit = apart & apart.T
    # Touching: vertex b collinear with edge a and inside its bounding box (_on_segment) makes
    # edge a meet edges b - 1 and b, which end and start at that vertex.
    a, b = np.concatenate(zero_rows), np.concatenate(zero_cols)
    on = ((np.minimum(x[a], nx[a]) <= x[b]) & (x[b] <= np.maximum(x[a], nx[a]))
          & (np.minimum(y[a], ny[a]) <= y[b]) & (y[b] <= np.maximum(y[a], ny[a])))
    a, b = a[on], b[on]
    before = (b - 1) % n
    hit[a, b] = hit[b, a] = hit[a, before] = hit[before, a] = True
    hit = np.triu(hit, k=2)  # j >= i + 2: edge i + 1 shares a vertex with edge i
    hit[0, n - 1] = False  # the last edge shares vertex 0 with the first
    first = int(np.argmax(hit))
    if not hit.flat[first]:
        return None
    i, j = divmod(first, n)
    return i, j


def validate_polygon(raw: object) -> list[Point]:
    if isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) > MAX_POLYGON_POINTS:
        raise PolygonError(f"a polygon may have at most {MAX_POLYGON_POINTS} points, got {len(raw)}")
    points = parse_points(raw)
    if len(points) < 3:
        raise PolygonError(f"a polygon needs at least 3 points, got {len(points)}")
    crossing = _first_crossing(points)
    if crossing is not None:
        i, j = crossing
        raise PolygonError(f"polygon edges {i} and {j} cross: the polygon is self-intersecting")
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in edges) / 2
    if abs(area) < 1e-9:
        raise PolygonError("polygon has zero area")
    return points


def validate_line(raw: object) -> list[Point]:
    if isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) > MAX_POLYGON_POINTS:
        raise PolygonError(f"a line zone needs exactly 2 points, got {len(raw)}")  # before parsing them all
    points = parse_points(raw)
    if len(points) != 2:
        raise PolygonError(f"a line zone needs exactly 2 points, got {len(points)}")
    if points[0] == points[1]:
        raise PolygonError("a line zone needs two distinct points")
    return points
