"""The latent map's plot: dots (or a density image for big maps), faces when zoomed in, hover, lasso.

Up to ``SCATTER_ALL_MAX`` points are one ``ScatterPlotItem``. Bigger maps (to a million points)
draw a density image of point counts, cut from ``GridIndex``'s count pyramid for the visible
rectangle, and dots only for the points in view once few enough are. Hover, clicks, lassos and
the visible set all go through the grid index, so they are exact at any size and cheap per event.
Shift-drag draws a lasso (or a box) and emits the points inside.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage
from PySide6.QtWidgets import QLabel, QWidget

from ...core.explore.spatial import GridIndex
from ..images import array_to_pixmap
from .map_layers import DensityLayer, SpotFiller

POINT_PX = 5
HOVER_RADIUS_PX = 8
HOVER_FACE_PX = 96
THUMB_MAX_VISIBLE = 400  # show faces instead of dots below this many visible points
THUMB_PX = 44
THUMB_BUDGET_S = 0.012  # GUI time per pass for making new face items; the rest follow on the next pass
SCATTER_ALL_MAX = 60_000  # up to this many points, all are dots; above, a density image
VISIBLE_DOTS_MAX = 20_000  # a big map shows dots once no more than this many are in view
DEFAULT_BRUSH = QBrush(QColor(120, 170, 255, 200))
EXCLUDED_BRUSH = QBrush(QColor(255, 80, 80, 230))


class MapViewBox(pg.ViewBox):
    """A ViewBox where shift-drag draws a selection (lasso or box) instead of panning."""

    def __init__(self) -> None:
        super().__init__()
        self.select_shape = "lasso"
        self.on_select_drag = None  # callable(polygon (K, 2) in view coordinates, finished: bool)
        self._trail: list[tuple[float, float]] = []

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: ANN001, N802 - pyqtgraph override
        if ev.button() != Qt.MouseButton.LeftButton or not ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        here = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._trail = [(start.x(), start.y())]
        self._trail.append((here.x(), here.y()))
        if self.select_shape == "box":
            (x0, y0), (x1, y1) = self._trail[0], self._trail[-1]
            polygon = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        else:
            polygon = np.array(self._trail)
        if self.on_select_drag is not None:
            self.on_select_drag(polygon, ev.isFinish())


class MapView(pg.PlotWidget):
    """A 2-D layout's points; emits clicks on points or empty space, and shift-drag selections."""

    point_clicked = Signal(int)
    empty_clicked = Signal(float, float)
    selected = Signal(object)  # sorted indices inside a finished lasso or box
    view_changed = Signal()  # the visible rectangle changed and what it shows was redrawn

    def __init__(self, parent: QWidget | None = None) -> None:
        self.viewbox = MapViewBox()
        super().__init__(parent, background="#16181d", viewBox=self.viewbox)
        self._layout = np.zeros((0, 2), np.float32)
        self._index = GridIndex(self._layout)
        self._faces: np.ndarray | None = None
        self._labels: list[str] = []
        self._colours: tuple[list[QBrush], np.ndarray] | None = None  # palette, index per point
        self._shown = np.zeros(0, np.int64)  # points drawn as dots (all of them for small maps)
        self.setAspectLocked(True)
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.setMenuEnabled(False)
        self.plotItem.hideButtons()
        self.density = DensityLayer()
        self.addItem(self.density.item)
        # Clicks are found through the grid index (exact, and the same for dots and density), not sigClicked.
        self.scatter = pg.ScatterPlotItem(size=POINT_PX, pen=None, brush=DEFAULT_BRUSH, pxMode=True, antialias=False)
        self.addItem(self.scatter)
        self._filler = SpotFiller(self.scatter, DEFAULT_BRUSH)
        self.selection_dots = pg.ScatterPlotItem(size=POINT_PX + 4, pen=pg.mkPen("#ffffff", width=1), brush=None,
                                                 pxMode=True, antialias=False)
        self.selection_dots.setZValue(15)
        self.addItem(self.selection_dots)
        self._selected = np.zeros(0, np.int64)
        # Faces excluded from training: a red cross on each (those in view, for a big map).
        self.excluded_dots = pg.ScatterPlotItem(size=POINT_PX + 5, symbol="x", pen=None, brush=EXCLUDED_BRUSH,
                                                pxMode=True, antialias=False)
        self.excluded_dots.setZValue(14)
        self.addItem(self.excluded_dots)
        self._excluded = self._excluded_shown = np.zeros(0, np.int64)
        self.lasso_line = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=1, style=Qt.PenStyle.DashLine))
        self.lasso_line.setZValue(30)
        self.addItem(self.lasso_line)
        self.viewbox.on_select_drag = self._on_select_drag
        self.path_line = pg.PlotDataItem(pen=pg.mkPen("#ffcc33", width=2, style=Qt.PenStyle.DashLine))
        self.path_line.setZValue(20)
        self.addItem(self.path_line)
        self.path_ends = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#ffcc33", width=2), brush=None, pxMode=True)
        self.path_ends.setZValue(21)
        self.addItem(self.path_ends)
        self.end_labels = {w: pg.TextItem(w, color="#ffcc33", anchor=(-0.3, 1.1)) for w in ("A", "B")}
        for item in self.end_labels.values():
            item.setZValue(22)
            item.hide()
            self.addItem(item)
        self.marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen("w", width=2), brush=None, pxMode=True)
        self.marker.setZValue(23)
        self.addItem(self.marker)

        self._thumbs: dict[int, pg.ImageItem] = {}
        self._detail_timer = QTimer(self, singleShot=True, interval=60)
        self._detail_timer.timeout.connect(self.update_details)
        # Faces for a zoomed-in view are made a few at a time (one item costs ~1 ms; 400 at once
        # froze the window for 0.4 s); each pass re-reads what is in view.
        self._thumb_timer = QTimer(self, singleShot=True, interval=0)
        self._thumb_timer.timeout.connect(self.update_thumbnails)
        self.getViewBox().sigRangeChanged.connect(lambda *_: self._on_range_changed())

        self.hover = QLabel(self)
        self.hover.setStyleSheet("QLabel { background: #101216; color: #e0e0e0; border: 1px solid #4a90d9;"
                                 " padding: 2px; }")
        self.hover.hide()
        self._hover_pos: QPointF | None = None
        self._hover_timer = QTimer(self, singleShot=True, interval=30)
        self._hover_timer.timeout.connect(self._update_hover)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    # ----------------------------------------------------------------- data
    @property
    def big(self) -> bool:
        """True when the map is drawn as a density image (too many points for dots)."""
        return len(self._layout) > SCATTER_ALL_MAX

    def set_points(self, faces: np.ndarray | None, labels: list[str], keep_view: bool = False) -> None:
        """New source: forget thumbnails and the path; the next ``set_layout`` draws the points.

        ``keep_view``: more points of the same map (while encoding runs): keep the zoom and the selection.
        """
        self._faces, self._labels, self._colours = faces, labels, None
        self._clear_thumbs()
        self.set_path(None, None)
        self.marker.setData([])
        if not keep_view:
            self.set_selected(np.zeros(0, np.int64))
            self.set_excluded(np.zeros(0, np.int64))
            self.getViewBox().setRange(QRectF(-1.05, -1.05, 2.1, 2.1), padding=0)

    def set_layout(self, layout: np.ndarray, fit: bool = False, index: GridIndex | None = None) -> None:
        """Draw ``layout``; ``fit`` zooms to where most points are (early t-SNE frames have far outliers).

        ``index``: the layout's ``GridIndex``, built in a worker (its points are the ones drawn); without
        it, the index is built here (small layouts only: sorting a big one would stall the window).
        """
        if index is not None:
            self._layout, self._index = index.xy, index
        else:
            self._layout = np.asarray(layout, np.float32)
            self._index = GridIndex(self._layout)
        n = len(self._layout)
        if fit and n >= 20:
            # The 1st and 99th percentiles by partition (np.percentile's first call imports lazily: 50 ms).
            ranks = [n // 100, n - 1 - n // 100]
            low, high = np.partition(self._layout, ranks, axis=0)[ranks]
            span = np.maximum(high - low, 1e-6)
            low, high = low - 0.15 * span, high + 0.15 * span
            self.getViewBox().setRange(QRectF(low[0], low[1], high[0] - low[0], high[1] - low[1]), padding=0)
        if not self.big and n and len(self._shown) == n and len(self.scatter.data) == n:
            self._filler.move(self._layout)  # same points, new positions (t-SNE frames)
        else:
            self._shown = np.arange(n) if not self.big else np.zeros(0, np.int64)
            self._fill()
        self._clear_thumbs()
        self._redraw_density()
        self._draw_selection()
        self._detail_timer.start()

    def _fill(self) -> None:
        palette, ids = self._colours if self._colours is not None else (None, None)
        if ids is not None and len(ids) != len(self._layout):
            palette = ids = None
        self._filler.fill(self._layout, self._shown, palette, ids)

    def set_colours(self, palette: list[QBrush] | None, ids: np.ndarray | None = None) -> None:
        """Colour point i with ``palette[ids[i]]``; ``None`` restores the default colour."""
        colours = None if palette is None or ids is None else (list(palette), np.asarray(ids, np.intp))
        if colours is None and self._colours is None:
            return  # already the default colour: redrawing every spot would change nothing
        self._colours = colours
        self.density.set_colours(self._index, colours)
        if len(self._layout):
            self._fill()
            self._redraw_density()

    def layout_array(self) -> np.ndarray:
        return self._layout

    def index(self) -> GridIndex:
        return self._index

    def set_marker(self, xy: tuple[float, float] | None) -> None:
        self.marker.setData([] if xy is None else [{"pos": xy}])

    def set_path(self, a: tuple[float, float] | None, b: tuple[float, float] | None) -> None:
        """The morph path between endpoints A and B (both must lie on this map)."""
        if a is None or b is None:
            self.path_line.setData([], [])
            self.path_ends.setData([])
            for item in self.end_labels.values():
                item.hide()
            return
        self.path_line.setData([a[0], b[0]], [a[1], b[1]])
        self.path_ends.setData(pos=[a, b])
        for which, xy in (("A", a), ("B", b)):
            self.end_labels[which].setPos(*xy)
            self.end_labels[which].show()
            # TextItem caches its pixel transform; one computed while the view was empty is wrong.
            self.end_labels[which].updateTransform(force=True)

    def scene_pos_of(self, i: int) -> QPointF:
        """Scene position of point ``i`` (tests map it to a widget position to click it)."""
        x, y = self._layout[i]
        return self.getViewBox().mapViewToScene(QPointF(float(x), float(y)))

    def shown_dots(self) -> np.ndarray:
        """Indices of the points drawn as dots now (all of a small map; those in view of a big one)."""
        return self._shown

    # ------------------------------------------------------------ selection
    def set_select_shape(self, shape: str) -> None:
        self.viewbox.select_shape = shape

    def set_selected(self, indices: np.ndarray) -> None:
        """Ring the selected points (those in view, at most ``VISIBLE_DOTS_MAX`` of them)."""
        self._selected = np.asarray(indices, np.int64)
        self._draw_selection()

    def set_excluded(self, indices: np.ndarray) -> None:
        """Cross out the points whose faces are excluded from training."""
        self._excluded = np.asarray(indices, np.int64)
        self._draw_selection()

    def excluded_marks(self) -> np.ndarray:
        """Indices of the points crossed out now (those in view of a big map)."""
        return self._excluded_shown

    def _draw_selection(self) -> None:
        """The selection rings and exclusion crosses (only those in view when there are many)."""
        rings, self._excluded_shown = self._drawable(self._selected), self._drawable(self._excluded)
        for item, chosen in ((self.selection_dots, rings), (self.excluded_dots, self._excluded_shown)):
            item.setData(pos=self._layout[chosen] if len(chosen) else np.zeros((0, 2)))

    def _drawable(self, indices: np.ndarray) -> np.ndarray:
        chosen = indices[indices < len(self._layout)]
        if len(chosen) > VISIBLE_DOTS_MAX:
            chosen = np.intersect1d(chosen, self.visible_indices(), assume_unique=True)[:VISIBLE_DOTS_MAX]
        return chosen

    def _on_select_drag(self, polygon: np.ndarray, finished: bool) -> None:
        closed = np.concatenate([polygon, polygon[:1]])
        self.lasso_line.setData(closed[:, 0], closed[:, 1])
        if finished:
            self.lasso_line.setData([], [])
            self.selected.emit(self._index.in_polygon(polygon))

    # ------------------------------------------------------- view changes
    def _on_range_changed(self) -> None:
        self._redraw_density()
        self._detail_timer.start()
        self.view_changed.emit()

    def _view_rect(self) -> tuple[float, float, float, float]:
        (x0, x1), (y0, y1) = self.getViewBox().viewRange()
        return x0, x1, y0, y1

    def _redraw_density(self) -> None:
        if not self.big:
            self.density.hide()
            return
        width_px = max(16, int(self.getViewBox().width()))
        self.density.draw(self._index, self._view_rect(), max(16, width_px // 2))

    def visible_indices(self) -> np.ndarray:
        if not len(self._layout):
            return np.zeros(0, np.int64)
        return self._index.in_rect(*self._view_rect())

    def update_details(self) -> None:
        """After the view settles: a big map's dots in view, and faces at the visible points when few."""
        visible = None
        if self.big:
            if self._index.count_in_rect(*self._view_rect(), VISIBLE_DOTS_MAX) <= VISIBLE_DOTS_MAX:
                visible = self.visible_indices()
                self._shown = visible if len(visible) <= VISIBLE_DOTS_MAX else np.zeros(0, np.int64)
            else:
                self._shown = np.zeros(0, np.int64)
            self._fill()
            self._draw_selection()
        self.update_thumbnails(visible)

    def _clear_thumbs(self) -> None:
        for item in self._thumbs.values():
            self.removeItem(item)
        self._thumbs.clear()

    def update_thumbnails(self, visible: np.ndarray | None = None) -> None:
        """Faces at the visible points when few are visible (the t-SNE image map), else dots only."""
        if self._faces is None or not len(self._layout) or (
                self._index.count_in_rect(*self._view_rect(), THUMB_MAX_VISIBLE) > THUMB_MAX_VISIBLE):
            self._clear_thumbs()
            return
        visible = self.visible_indices() if visible is None else visible
        if len(visible) > THUMB_MAX_VISIBLE or len(visible) == 0:
            self._clear_thumbs()
            return
        px_w, px_h = self.getViewBox().viewPixelSize()
        w, h = THUMB_PX * px_w, THUMB_PX * px_h
        keep = set(int(i) for i in visible)
        for i in [i for i in self._thumbs if i not in keep]:
            self.removeItem(self._thumbs.pop(i))
        start, pending = time.perf_counter(), False
        for i in keep:
            item = self._thumbs.get(i)
            if item is None:
                if time.perf_counter() - start > THUMB_BUDGET_S:
                    pending = True
                    continue
                # Rows run downwards in an image but y runs upwards in the plot: flip the rows. No
                # levels: the uint8 pixels are shown as they are (auto-levels stretched each face's
                # own range, so a dim face looked brighter than it is, and cost a rescale per paint).
                item = pg.ImageItem(np.asarray(self._faces[i])[::-1], axisOrder="row-major", levels=None,
                                    autoLevels=False)
                item.setZValue(10)
                self.addItem(item)
                self._thumbs[i] = item
            x, y = self._layout[i]
            item.setRect(QRectF(float(x) - w / 2, float(y) - h / 2, w, h))
        if pending:
            self._thumb_timer.start()

    def thumbnail_count(self) -> int:
        return len(self._thumbs)

    def thumbnail_pixels(self, index: int) -> np.ndarray | None:
        """The RGB pixels the thumbnail of point ``index`` paints (top row first), or None if not shown."""
        item = self._thumbs.get(int(index))
        if item is None:
            return None
        item.render()  # what paint() draws: the item's QImage after levels and lookup tables
        image = item.qimage.convertToFormat(QImage.Format.Format_RGB888)
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
        return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3)[::-1].copy()

    # -------------------------------------------------------- mouse: hover
    def _on_mouse_moved(self, pos: QPointF) -> None:
        self._hover_pos = pos
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def hit_point(self, scene_pos: QPointF, radius_px: float = HOVER_RADIUS_PX) -> int | None:
        """Index of the point nearest ``scene_pos`` within ``radius_px`` screen pixels, if any (exact)."""
        if not len(self._layout):
            return None
        vb = self.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        xy = vb.mapSceneToView(scene_pos)
        px = max(vb.viewPixelSize()[0], 1e-12)
        hit = self._index.nearest(xy.x(), xy.y(), radius_px * px)
        return None if hit is None else hit[0]

    def _update_hover(self) -> None:
        i = self.hit_point(self._hover_pos) if self._hover_pos is not None else None
        if i is None or self._faces is None:
            self.hover.hide()
            return
        self.hover.setPixmap(array_to_pixmap(np.asarray(self._faces[i]), HOVER_FACE_PX))
        self.hover.setToolTip(self._labels[i] if i < len(self._labels) else "")
        self.hover.adjustSize()
        widget_pos = self.mapFromScene(self._hover_pos)
        x, y = widget_pos.x() + 14, widget_pos.y() + 14
        # Keep the thumbnail inside the plot near the right and bottom edges.
        if x + self.hover.width() > self.width():
            x = widget_pos.x() - 14 - self.hover.width()
        if y + self.hover.height() > self.height():
            y = widget_pos.y() - 14 - self.hover.height()
        self.hover.move(x, y)
        self.hover.show()
        self.hover.raise_()

    def leaveEvent(self, event) -> None:  # noqa: ANN001 - QEvent
        self.hover.hide()
        self._hover_pos = None
        super().leaveEvent(event)

    # ------------------------------------------------------- mouse: clicks
    def _on_scene_clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton or not len(self._layout):
            return
        pos = event.scenePos()
        vb = self.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        hit = self.hit_point(pos, POINT_PX / 2 + 2)
        if hit is not None:
            self.point_clicked.emit(hit)
            return
        xy = vb.mapSceneToView(pos)
        self.empty_clicked.emit(float(xy.x()), float(xy.y()))
