"""Drawing layers of the map view: a vectorised dot filler and the density image of big maps."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QBrush

from ...core.explore.spatial import GridIndex

# pyqtgraph ScatterPlotItem record fields that ``SpotFiller.fill`` writes itself.
_SPOT_FIELDS = ("x", "y", "size", "symbol", "pen", "brush", "visible", "data", "hovered", "item", "sourceRect")
# Density colours: counts on a log scale through a dark-blue-to-warm-white ramp (256 steps).
_RAMP = np.array([(22, 24, 29), (40, 60, 120), (60, 120, 200), (120, 190, 255), (255, 240, 200)], np.float64)
DENSITY_LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_RAMP)), _RAMP[:, c])
                        for c in range(3)], 1).astype(np.uint8)


class SpotFiller:
    """Builds a scatter's spots for chosen points, vectorised.

    ``ScatterPlotItem.setData`` looks up each spot's style in its symbol atlas one Python tuple at
    a time: 80-190 ms for 20k spots on the GUI thread. Every spot here shares one of a few styles,
    so each style is looked up once and the spots' atlas rectangles are filled by numpy indexing;
    the record is what ``setData(pos=..., data=indices, brush=...)`` builds, so ``points()`` and
    painting work as before. Falls back to ``setData`` if pyqtgraph's record layout differs.
    """

    def __init__(self, scatter: pg.ScatterPlotItem, default: QBrush) -> None:
        self.scatter, self.default = scatter, default

    def fill(self, layout: np.ndarray, shown: np.ndarray, palette: list[QBrush] | None, ids: np.ndarray | None) -> None:
        scatter, n = self.scatter, len(shown)
        names = scatter.data.dtype.names or ()
        if not n or any(f not in names for f in _SPOT_FIELDS):
            brushes = [palette[i] for i in ids[shown]] if ids is not None else self.default
            scatter.setData(pos=layout[shown], data=shown, brush=brushes)
            return
        # One blank spot (object fields None: "use the item's default"), repeated: np.empty of a
        # record with object fields fills them one by one, 3x slower than copying a template.
        blank = np.zeros(1, dtype=scatter.data.dtype)
        blank["size"], blank["visible"] = -1, True
        blank["symbol"] = blank["pen"] = blank["brush"] = blank["data"] = blank["item"] = None
        data = np.repeat(blank, n)
        data["x"], data["y"] = layout[shown, 0], layout[shown, 1]
        data["data"] = shown
        opts = scatter.opts
        if ids is None:
            scatter.opts["brush"] = self.default
            styles = [(opts["symbol"], opts["size"], opts["pen"], self.default)]
            spot_ids = np.zeros(n, np.intp)
        else:
            brush_objects = np.empty(len(palette), dtype=object)
            brush_objects[:] = palette
            spot_ids = ids[shown]
            data["brush"] = brush_objects[spot_ids]
            styles = [(opts["symbol"], opts["size"], opts["pen"], brush) for brush in palette]
        rects = np.zeros(len(styles), dtype=data.dtype["sourceRect"])
        for i, rect in enumerate(scatter.fragmentAtlas[styles]):
            rects[i] = tuple(rect)
        data["sourceRect"] = rects[spot_ids]
        scatter.data = data
        self._changed()

    def move(self, layout: np.ndarray) -> None:
        """Every point shown, new positions (t-SNE frames): write the coordinates in place.

        ``setData`` rebuilds every spot; moving the coordinates keeps colours and indices and
        costs a couple of milliseconds for 20k points.
        """
        self.scatter.data["x"] = layout[:, 0]
        self.scatter.data["y"] = layout[:, 1]
        self._changed()

    def _changed(self) -> None:
        scatter = self.scatter
        scatter.prepareGeometryChange()
        scatter.informViewBoundsChanged()
        scatter.bounds = [None, None]  # pyqtgraph's cached data bounds
        scatter._updateMaxSpotSizes(data=scatter.data)
        scatter.invalidate()
        scatter.sigPlotChanged.emit(scatter)


class DensityLayer:
    """An image of how many points fall in each screen cell, coloured, for maps too big for dots."""

    def __init__(self) -> None:
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(-10)
        self.item.hide()
        self._rgb: np.ndarray | None = None  # (N, 3) colour of each point when the map is coloured

    def set_colours(self, index: GridIndex, colours: tuple[list[QBrush], np.ndarray] | None) -> None:
        if colours is None:
            self._rgb = None
            return
        palette, ids = colours
        table = np.array([brush.color().getRgb()[:3] for brush in palette], np.float64)
        self._rgb = table[ids] if len(ids) == len(index) else None

    def hide(self) -> None:
        self.item.hide()

    def draw(self, index: GridIndex, view: tuple[float, float, float, float], max_side: int) -> None:
        """Counts of the points in ``view`` (x0, x1, y0, y1) on at most ~2 * ``max_side`` cells a side."""
        counts, (x, y, w, h) = index.density(*view, max_side)
        if not counts.size or not len(index):
            self.item.hide()
            return
        shade = np.log1p(counts.astype(np.float32))
        top = float(shade.max()) or 1.0
        level = shade / top
        if self._rgb is None:
            rgb = DENSITY_LUT[(level * 255).astype(np.uint8)]
        else:
            sums, _ = index.density(*view, max_side, values=self._rgb)
            mean = sums / np.maximum(counts, 1)[..., None]
            rgb = (mean * (0.35 + 0.65 * level)[..., None]).astype(np.uint8)
            rgb[counts == 0] = DENSITY_LUT[0]
        self.item.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.item.setRect(QRectF(x, y, w, h))
        self.item.show()
