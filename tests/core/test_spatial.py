"""The map's grid index answers exactly what a brute-force search over every point answers."""

from __future__ import annotations

import numpy as np
import pytest

from waifu_studio.core.explore.projection import nearest_points
from waifu_studio.core.explore.spatial import GridIndex


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    # Clusters of very different density, plus exact duplicates (ties go to the lower index).
    xy = np.concatenate([rng.normal(0, 0.05, (20_000, 2)), rng.uniform(-1, 1, (5_000, 2)),
                         rng.normal(0.6, 0.01, (5_000, 2))]).astype(np.float32)
    xy[100] = xy[50]
    return xy


def test_nearest_within_radius_is_exact(points):
    index = GridIndex(points)
    rng = np.random.default_rng(1)
    queries = np.concatenate([rng.uniform(-1.2, 1.2, (300, 2)), points[rng.integers(0, len(points), 100)] + 1e-4,
                              points[[50]]])
    for x, y in queries:
        for radius in (0.001, 0.02, 0.3):
            brute, dist = nearest_points(points, (x, y), k=1)
            found = index.nearest(x, y, radius)
            if dist[0] <= radius:
                assert found is not None and found[0] == brute[0]
            else:
                assert found is None
    assert index.nearest(*points[50], 0.01)[0] == 50  # duplicates of 50 and 100: the lower index


def test_rectangles_and_lassos_match_brute_force(points):
    index = GridIndex(points)
    x0, x1, y0, y1 = -0.1, 0.05, -0.02, 0.3
    inside = np.flatnonzero((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1))
    np.testing.assert_array_equal(index.in_rect(x1, x0, y1, y0), inside)  # corners in any order
    # A triangle: points under the diagonal of the unit square's lower-left corner region.
    triangle = np.array([[-1.0, -1.0], [0.5, -1.0], [-1.0, 0.5]])
    expected = np.flatnonzero((points[:, 0] >= -1) & (points[:, 1] >= -1) & (points[:, 0] + points[:, 1] <= -0.5))
    np.testing.assert_array_equal(index.in_polygon(triangle), expected)
    assert len(index.in_rect(5, 6, 5, 6)) == 0


def test_density_counts_every_point(points):
    index = GridIndex(points)
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    for side in (16, 100, 2000):
        counts, rect = index.density(float(x0), float(x1), float(y0), float(y1), side)
        assert counts.sum() == len(points)  # no point dropped at any zoom level
        assert max(counts.shape) <= max(side, 16) * 2
    part, rect = index.density(-0.1, 0.1, -0.1, 0.1, 64)
    x, y, w, h = rect
    inside = (points[:, 0] >= x) & (points[:, 0] < x + w) & (points[:, 1] >= y) & (points[:, 1] < y + h)
    assert abs(int(part.sum()) - int(inside.sum())) <= 0.001 * len(points)  # cell edges: float rounding only
