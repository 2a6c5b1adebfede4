"""``python manage.py bench_zones``: how long zone polygon validation takes, at and over the cap.

Times ``cameras.geometry.validate_polygon`` on the JSON-shaped input the API hands it (parsing
included) for valid convex polygons of 3, 100 and 500 points (the worst case: no crossing, so
every pair of edges is tested) and for a 501-point polygon, refused by its count. Prints the
median, p99 and max over ``--repeats`` runs of each, after a short warm-up. Needs no database.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cameras.geometry import MAX_POLYGON_POINTS, PolygonError, validate_polygon


def convex_polygon(n: int) -> list[list[float]]:
    return [[0.5 + 0.4 * math.cos(2 * math.pi * k / n), 0.5 + 0.4 * math.sin(2 * math.pi * k / n)] for k in range(n)]


CASES = [  # label, points, expected error (None: accepted)
    ("valid convex polygon", 3, None),
    ("valid convex polygon", 100, None),
    ("valid convex polygon", MAX_POLYGON_POINTS, None),
    ("refused: over the cap", MAX_POLYGON_POINTS + 1, f"at most {MAX_POLYGON_POINTS} points"),
]


def run_once(points: list[list[float]], expected_error: str | None) -> float:
    start = time.perf_counter()
    try:
        validate_polygon(points)
        error = None
    except PolygonError as err:
        error = str(err)
    elapsed = time.perf_counter() - start
    if (error is None) != (expected_error is None) or (error is not None and expected_error not in error):
        raise CommandError(f"{len(points)}-point case: expected {expected_error or 'acceptance'}, got {error or 'acceptance'}")
    return elapsed


class Command(BaseCommand):
    help = "Time zone polygon validation (median/p99 over repeats) for 3/100/500-point polygons and a 501-point refusal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeats", type=int, default=200, help="timed runs per case (default 200, at least 10)")

    def handle(self, *args: Any, repeats: int, **options: Any) -> None:
        if repeats < 10:
            raise CommandError(f"--repeats must be at least 10 for a p99, got {repeats}", returncode=2)
        self.stdout.write(f"bench_zones: cameras.geometry.validate_polygon, {repeats} repeats per case, times in ms")
        self.stdout.write(f"{'case':<24}{'points':>7}{'median':>10}{'p99':>10}{'max':>10}")
        for label, n, expected_error in CASES:
            points = convex_polygon(n)
            for _ in range(5):  # warm-up
                run_once(points, expected_error)
            times = sorted(run_once(points, expected_error) * 1000 for _ in range(repeats))
            p99 = statistics.quantiles(times, n=100, method="inclusive")[98]
            self.stdout.write(f"{label:<24}{n:>7}{statistics.median(times):>10.3f}{p99:>10.3f}{times[-1]:>10.3f}")
