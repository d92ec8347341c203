"""A uniform-grid index of 2-D map points: exact hover and click, rectangles, lassos, density images.

A map of a million points cannot be searched point by point on every mouse move, nor drawn as a
million dots. The points are sorted by the grid cell they fall in (one ``argsort``), so the points
of any cell are one slice of that order; the per-cell counts are the finest density image, and
sums of 2x2 blocks give the coarser levels a zoomed-out view draws. Queries look only at the cells
that can hold an answer and then test those points exactly, so results equal a brute-force search.
"""

from __future__ import annotations

import numpy as np

from ..errors import WaifuError

MAX_CELLS = 1024  # per side: the finest density level (4 MB of int32 counts)


class GridIndex:
    """Points (N, 2) bucketed by a ``cells`` x ``cells`` grid over their bounding box."""

    def __init__(self, xy: np.ndarray, cells: int | None = None) -> None:
        xy = np.asarray(xy, np.float32)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise WaifuError(f"map points must have shape (N, 2), got {xy.shape}")
        self.xy = xy
        n = len(xy)
        # About 4 points per cell on average, within [16, MAX_CELLS] per side.
        self.cells = int(cells or np.clip(2 ** int(np.ceil(np.log2(max(1.0, np.sqrt(n / 4))))), 16, MAX_CELLS))
        if n:
            self.low = xy.min(0).astype(np.float64)
            span = np.maximum(xy.max(0).astype(np.float64) - self.low, 1e-9)
        else:
            self.low, span = np.zeros(2), np.ones(2)
        self.cell_size = span * (1 + 1e-6) / self.cells  # the max lands inside the last cell
        cx, cy = self._cell_of(xy[:, 0], xy[:, 1])
        cell_id = cy * self.cells + cx
        self.order = np.argsort(cell_id, kind="stable").astype(np.int64)  # stable: ties keep index order
        self.counts = np.bincount(cell_id, minlength=self.cells * self.cells).reshape(self.cells, self.cells)
        self.starts = np.concatenate([[0], np.cumsum(self.counts.ravel())]).astype(np.int64)
        self._levels: list[np.ndarray] = [self.counts]
        self._value_cache: tuple[tuple[int, int], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.xy)

    def _cell_of(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        last = self.cells - 1
        cx = np.clip(np.floor((np.asarray(x, np.float64) - self.low[0]) / self.cell_size[0]), 0, last).astype(np.int64)
        cy = np.clip(np.floor((np.asarray(y, np.float64) - self.low[1]) / self.cell_size[1]), 0, last).astype(np.int64)
        return cx, cy

    def _cell_range(self, x0: float, x1: float, y0: float, y1: float) -> tuple[int, int, int, int] | None:
        """Inclusive cell columns and rows that overlap the rectangle, or None when it misses the grid."""
        hx, hy = self.low + self.cell_size * self.cells
        if x1 < self.low[0] or y1 < self.low[1] or x0 > hx or y0 > hy or not len(self.xy):
            return None
        (c0, c1), (r0, r1) = self._cell_of([x0, x1], [y0, y1])
        return int(c0), int(c1), int(r0), int(r1)

    def _candidates(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        cells = self._cell_range(x0, x1, y0, y1)
        if cells is None:
            return np.zeros(0, np.int64)
        c0, c1, r0, r1 = cells
        rows = np.arange(r0, r1 + 1)
        begin = self.starts[rows * self.cells + c0]
        end = self.starts[rows * self.cells + c1 + 1]
        lengths = end - begin
        if not lengths.sum():
            return np.zeros(0, np.int64)
        # Concatenate the slices order[begin:end] of each row of cells without a Python loop.
        offsets = np.repeat(begin - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.order[np.arange(lengths.sum()) + offsets]

    def in_rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Sorted indices of the points with x0 <= x <= x1 and y0 <= y <= y1."""
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        found = self._candidates(x0, x1, y0, y1)
        p = self.xy[found]
        keep = (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
        return np.sort(found[keep])

    def count_in_rect(self, x0: float, x1: float, y0: float, y1: float, limit: int) -> int:
        """Points in the rectangle's cells (an upper bound of ``in_rect``), counting stops past ``limit``."""
        cells = self._cell_range(*sorted((x0, x1)), *sorted((y0, y1)))
        if cells is None:
            return 0
        c0, c1, r0, r1 = cells
        return int(min(self.counts[r0:r1 + 1, c0:c1 + 1].sum(), limit + 1))

    def in_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Sorted indices of the points inside ``polygon`` (K, 2) (even-odd rule; K >= 3)."""
        polygon = np.asarray(polygon, np.float64)
        if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
            return np.zeros(0, np.int64)
        (x0, y0), (x1, y1) = polygon.min(0), polygon.max(0)
        found = self.in_rect(x0, x1, y0, y1)
        px, py = self.xy[found, 0].astype(np.float64), self.xy[found, 1].astype(np.float64)
        inside = np.zeros(len(found), bool)
        ax, ay = polygon[:, 0], polygon[:, 1]
        bx, by = np.roll(ax, -1), np.roll(ay, -1)
        for i in range(len(polygon)):  # one vectorised pass per edge: O(points x edges)
            crosses = (ay[i] > py) != (by[i] > py)
            with np.errstate(divide="ignore", invalid="ignore"):
                x_at = ax[i] + (py - ay[i]) * (bx[i] - ax[i]) / (by[i] - ay[i])
            inside ^= crosses & (px < x_at)
        return found[inside]

    def nearest(self, x: float, y: float, radius: float) -> tuple[int, float] | None:
        """The point nearest to (x, y) within ``radius`` (ties: the lower index), and its distance."""
        found = self._candidates(x - radius, x + radius, y - radius, y + radius)
        if not len(found):
            return None
        p = self.xy[found].astype(np.float64)
        distance = np.hypot(p[:, 0] - x, p[:, 1] - y)
        best = np.lexsort((found, distance))[0]
        if distance[best] > radius:
            return None
        return int(found[best]), float(distance[best])

    # ------------------------------------------------------------- density
    def level(self, k: int) -> np.ndarray:
        """Counts on a grid 2**k times coarser than the finest ((cells >> k) per side)."""
        while len(self._levels) <= k and self._levels[-1].shape[0] > 1:
            fine = self._levels[-1]
            m = fine.shape[0] // 2
            self._levels.append(fine[:2 * m, :2 * m].reshape(m, 2, m, 2).sum(axis=(1, 3)))
        return self._levels[min(k, len(self._levels) - 1)]

    def density(self, x0: float, x1: float, y0: float, y1: float, max_side: int,
                values: np.ndarray | None = None) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        """Point counts (rows = y) over the view, no more than ``max_side`` cells a side, and their rect.

        The coarsest level whose cells are still no larger than the view / ``max_side`` is cropped
        to the view, so the cost follows the screen size, not the number of points. ``values``
        (N, C) sums per cell instead of counts (for colouring by a per-point value).
        """
        view_w, view_h = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
        k = 0
        while (self.cell_size[0] * 2 ** (k + 1) <= view_w / max_side
               and self.cell_size[1] * 2 ** (k + 1) <= view_h / max_side and (self.cells >> (k + 1)) >= 1):
            k += 1
        grid = self.level(k) if values is None else self._value_level(values, k)
        size = self.cell_size * 2 ** k
        side = grid.shape[0]
        c0 = int(np.clip(np.floor((x0 - self.low[0]) / size[0]), 0, side))
        c1 = int(np.clip(np.ceil((x1 - self.low[0]) / size[0]), 0, side))
        r0 = int(np.clip(np.floor((y0 - self.low[1]) / size[1]), 0, side))
        r1 = int(np.clip(np.ceil((y1 - self.low[1]) / size[1]), 0, side))
        rect = (self.low[0] + c0 * size[0], self.low[1] + r0 * size[1], (c1 - c0) * size[0], (r1 - r0) * size[1])
        return grid[r0:r1, c0:c1], rect

    def _value_level(self, values: np.ndarray, k: int) -> np.ndarray:
        key = (id(values), k)
        if self._value_cache is not None and self._value_cache[0] == key:
            return self._value_cache[1]
        values = np.asarray(values, np.float64).reshape(len(self.xy), -1)
        cx, cy = self._cell_of(self.xy[:, 0], self.xy[:, 1])
        side = self.cells >> k
        cell = (cy >> k) * side + (cx >> k)
        grid = np.stack([np.bincount(cell, values[:, c], minlength=side * side) for c in range(values.shape[1])], -1)
        grid = grid.reshape(side, side, values.shape[1])
        self._value_cache = (key, grid)
        return grid
