"""The latent map's plot: one scatter of every point, face thumbnails when zoomed in, hover, a path.

Kept smooth for tens of thousands of points: one ``ScatterPlotItem`` (no antialiasing, pixel-sized
symbols), hover and thumbnail updates coalesced by single-shot timers, and face images created
only for the few hundred points in view.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QLabel, QWidget

from ...core.explore.projection import nearest_points
from ..images import array_to_pixmap

POINT_PX = 5
HOVER_RADIUS_PX = 8
HOVER_FACE_PX = 96
THUMB_MAX_VISIBLE = 400  # show faces instead of dots below this many visible points
THUMB_PX = 44
DEFAULT_BRUSH = QBrush(QColor(120, 170, 255, 200))
# pyqtgraph ScatterPlotItem record fields that ``MapView._fill_spots`` writes itself.
_SPOT_FIELDS = ("x", "y", "size", "symbol", "pen", "brush", "visible", "data", "hovered", "item", "sourceRect")


class MapView(pg.PlotWidget):
    """Scatter of a 2-D layout; emits which point (or empty spot) the user clicked."""

    point_clicked = Signal(int)
    empty_clicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="#16181d")
        self._layout = np.zeros((0, 2), np.float32)
        self._faces: np.ndarray | None = None
        self._labels: list[str] = []
        self._colours: tuple[list[QBrush], np.ndarray] | None = None  # palette, index per point
        self.setAspectLocked(True)
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.setMenuEnabled(False)
        self.plotItem.hideButtons()
        self.scatter = pg.ScatterPlotItem(size=POINT_PX, pen=None, brush=DEFAULT_BRUSH, pxMode=True,
                                          antialias=False)
        self.scatter.sigClicked.connect(self._on_scatter_clicked)
        self.addItem(self.scatter)
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
        self._thumb_timer = QTimer(self, singleShot=True, interval=60)
        self._thumb_timer.timeout.connect(self.update_thumbnails)
        self.getViewBox().sigRangeChanged.connect(lambda *_: self._thumb_timer.start())

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
    def set_points(self, faces: np.ndarray | None, labels: list[str]) -> None:
        """New source: forget thumbnails and the path; the next ``set_layout`` draws the points."""
        self._faces, self._labels, self._colours = faces, labels, None
        self._clear_thumbs()
        self.set_path(None, None)
        self.marker.setData([])
        self.getViewBox().setRange(QRectF(-1.05, -1.05, 2.1, 2.1), padding=0)

    def set_layout(self, layout: np.ndarray, fit: bool = False) -> None:
        """Draw ``layout``; ``fit`` zooms to where most points are (early t-SNE frames have far outliers)."""
        self._layout = np.asarray(layout, np.float32)
        if fit and len(self._layout) >= 20:
            # The 1st and 99th percentiles by partition: np.percentile's first call lazily
            # imports numpy submodules, a 50 ms stall of the window.
            n = len(self._layout)
            ranks = [n // 100, n - 1 - n // 100]
            low, high = np.partition(self._layout, ranks, axis=0)[ranks]
            span = np.maximum(high - low, 1e-6)
            low, high = low - 0.15 * span, high + 0.15 * span
            self.getViewBox().setRange(QRectF(low[0], low[1], high[0] - low[0], high[1] - low[1]), padding=0)
        n = len(self._layout)
        if n and len(self.scatter.data) == n:
            self._move_points()
        else:
            self._fill_spots()
        self._clear_thumbs()
        self._thumb_timer.start()

    def _fill_spots(self) -> None:
        """(Re)build every spot of the scatter from ``_layout`` and ``_colours``, vectorised.

        ``ScatterPlotItem.setData`` looks up each spot's style in its symbol atlas one Python tuple
        at a time: 80-190 ms for 20k spots on the GUI thread (the largest stall while a map was
        computed). Every spot here shares one of a few styles, so each style is looked up once and
        the spots' atlas rectangles are filled by numpy indexing; the record is what
        ``setData(pos=..., data=arange(n), brush=...)`` builds, so clicks, ``points()`` and
        painting work as before. Falls back to ``setData`` if pyqtgraph's record layout differs.
        """
        scatter, n = self.scatter, len(self._layout)
        palette, ids = self._colours if self._colours is not None else (None, None)
        if ids is not None and len(ids) != n:
            palette = ids = None
        names = scatter.data.dtype.names or ()
        if not n or any(f not in names for f in _SPOT_FIELDS):
            brushes = [palette[i] for i in ids] if ids is not None else DEFAULT_BRUSH
            scatter.setData(pos=self._layout, data=np.arange(n), brush=brushes)
            return
        # One blank spot (object fields None: "use the item's default"), repeated: np.empty of a
        # record with object fields fills them one by one, 3x slower than copying a template.
        blank = np.zeros(1, dtype=scatter.data.dtype)
        blank["size"], blank["visible"] = -1, True
        blank["symbol"] = blank["pen"] = blank["brush"] = blank["data"] = blank["item"] = None
        data = np.repeat(blank, n)
        data["x"], data["y"] = self._layout[:, 0], self._layout[:, 1]
        data["data"] = np.arange(n)
        opts = scatter.opts
        if ids is None:
            scatter.opts["brush"] = DEFAULT_BRUSH
            styles = [(opts["symbol"], opts["size"], opts["pen"], DEFAULT_BRUSH)]
            ids = np.zeros(n, np.intp)
        else:
            brush_objects = np.empty(len(palette), dtype=object)
            brush_objects[:] = palette
            data["brush"] = brush_objects[ids]
            styles = [(opts["symbol"], opts["size"], opts["pen"], brush) for brush in palette]
        rects = np.zeros(len(styles), dtype=data.dtype["sourceRect"])
        for i, rect in enumerate(scatter.fragmentAtlas[styles]):
            rects[i] = tuple(rect)
        data["sourceRect"] = rects[ids]
        scatter.data = data
        scatter.prepareGeometryChange()
        scatter.informViewBoundsChanged()
        scatter.bounds = [None, None]
        scatter._updateMaxSpotSizes(data=data)
        scatter.invalidate()
        scatter.sigPlotChanged.emit(scatter)

    def _move_points(self) -> None:
        """Same points, new positions (t-SNE frames): write the coordinates in place.

        ``setData`` rebuilds every spot (brushes, symbols, indices); moving the coordinates
        keeps colours and indices and costs a couple of milliseconds for 20k points.
        """
        self.scatter.data["x"] = self._layout[:, 0]
        self.scatter.data["y"] = self._layout[:, 1]
        self.scatter.prepareGeometryChange()
        self.scatter.bounds = [None, None]  # pyqtgraph's cached data bounds
        self.scatter.invalidate()
        self.scatter.informViewBoundsChanged()

    def set_colours(self, palette: list[QBrush] | None, ids: np.ndarray | None = None) -> None:
        """Colour point i with ``palette[ids[i]]``; ``None`` restores the default colour."""
        colours = None if palette is None or ids is None else (list(palette), np.asarray(ids, np.intp))
        if colours is None and self._colours is None:
            return  # already the default colour: redrawing 20k spots would change nothing
        self._colours = colours
        if len(self._layout):
            self._fill_spots()

    def layout_array(self) -> np.ndarray:
        return self._layout

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

    # ----------------------------------------------------------- thumbnails
    def _clear_thumbs(self) -> None:
        for item in self._thumbs.values():
            self.removeItem(item)
        self._thumbs.clear()

    def visible_indices(self) -> np.ndarray:
        if not len(self._layout):
            return np.zeros(0, np.int64)
        (x0, x1), (y0, y1) = self.getViewBox().viewRange()
        xs, ys = self._layout[:, 0], self._layout[:, 1]
        return np.flatnonzero((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1))

    def update_thumbnails(self) -> None:
        """Faces at the visible points when few are visible (the t-SNE image map), else dots only."""
        visible = self.visible_indices() if self._faces is not None else np.zeros(0, np.int64)
        if len(visible) > THUMB_MAX_VISIBLE or len(visible) == 0:
            self._clear_thumbs()
            return
        px_w, px_h = self.getViewBox().viewPixelSize()
        w, h = THUMB_PX * px_w, THUMB_PX * px_h
        keep = set(int(i) for i in visible)
        for i in [i for i in self._thumbs if i not in keep]:
            self.removeItem(self._thumbs.pop(i))
        for i in keep:
            item = self._thumbs.get(i)
            if item is None:
                # Rows run downwards in an image but y runs upwards in the plot: flip the rows.
                item = pg.ImageItem(self._faces[i][::-1], axisOrder="row-major")
                item.setZValue(10)
                self.addItem(item)
                self._thumbs[i] = item
            x, y = self._layout[i]
            item.setRect(QRectF(float(x) - w / 2, float(y) - h / 2, w, h))

    def thumbnail_count(self) -> int:
        return len(self._thumbs)

    # -------------------------------------------------------- mouse: hover
    def _on_mouse_moved(self, pos: QPointF) -> None:
        self._hover_pos = pos
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def hit_point(self, scene_pos: QPointF, radius_px: float = HOVER_RADIUS_PX) -> int | None:
        """Index of the point within ``radius_px`` screen pixels of ``scene_pos``, if any."""
        if not len(self._layout):
            return None
        vb = self.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        xy = vb.mapSceneToView(scene_pos)
        idx, dist = nearest_points(self._layout, (xy.x(), xy.y()), k=1)
        px = max(vb.viewPixelSize()[0], 1e-12)
        return int(idx[0]) if dist[0] / px <= radius_px else None

    def _update_hover(self) -> None:
        i = self.hit_point(self._hover_pos) if self._hover_pos is not None else None
        if i is None or self._faces is None:
            self.hover.hide()
            return
        self.hover.setPixmap(array_to_pixmap(self._faces[i], HOVER_FACE_PX))
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
    def _on_scatter_clicked(self, _item: pg.ScatterPlotItem, points, _event=None) -> None:  # noqa: ANN001
        if len(points):
            self.point_clicked.emit(int(points[0].data()))

    def _on_scene_clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton or not len(self._layout):
            return
        pos = event.scenePos()
        vb = self.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        # A click on a point is the scatter's (sigClicked); only clicks in empty space blend.
        if self.hit_point(pos, POINT_PX / 2 + 2) is not None:
            return
        xy = vb.mapSceneToView(pos)
        self.empty_clicked.emit(float(xy.x()), float(xy.y()))
