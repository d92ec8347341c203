"""A grid of faces drawn big and crisp: nearest-neighbour scaling, hover tooltips, clicks and drags.

Shared by the Generate and Directions panels. The widget only draws what it is given (uint8
arrays) and reports user gestures as signals; panels decide what a click means.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QMimeData, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QApplication, QSizePolicy, QToolTip, QWidget

from ..images import array_to_pixmap


class FaceGrid(QWidget):
    """Draws (N, H, W, 3) faces in ``ncols`` columns, each tile as large as fits.

    Signals carry the tile index. Upscaling uses whole multiples when the tile is large enough,
    so pixels stay square and sharp.
    """

    clicked = Signal(int, object)  # index, Qt.KeyboardModifiers
    context_requested = Signal(int, QPoint)  # index, global position
    drag_requested = Signal(int)  # index: the owner builds the QDrag (it knows the latent)

    def __init__(self, parent: QWidget | None = None, *, min_tile: int = 32, spacing: int = 6,
                 max_tile: int | None = None) -> None:
        super().__init__(parent)
        self._faces = np.zeros((0, 1, 1, 3), np.uint8)
        self._pixmaps: list = []
        self._scaled_cache: dict[tuple[int, int], object] = {}
        self._labels: list[str] = []
        self._tooltips: list[str] = []
        self._ncols = 1
        self._spacing = spacing
        self._min_tile = min_tile
        self._max_tile = max_tile
        self._marks: dict[int, str] = {}  # tile -> "A", "B" or "AB": the morph endpoints among these faces
        self._hover: int | None = None
        self._press_pos: QPoint | None = None
        self._press_index: int | None = None
        self.placeholder = "No model loaded"
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ------------------------------------------------------------------ data
    def set_faces(self, faces: np.ndarray, ncols: int | None = None, labels: list[str] | None = None,
                  tooltips: list[str] | None = None) -> None:
        self._faces = np.asarray(faces, np.uint8)
        n = len(self._faces)
        self._ncols = max(1, ncols if ncols else math.ceil(math.sqrt(max(n, 1))))
        self._pixmaps = [array_to_pixmap(face) for face in self._faces]
        self._scaled_cache: dict[tuple[int, int], object] = {}
        self._labels = list(labels) if labels else []
        self._tooltips = list(tooltips) if tooltips else []
        self.update()

    def faces(self) -> np.ndarray:
        return self._faces.copy()

    def count(self) -> int:
        return len(self._faces)

    def set_marks(self, marks: dict[int, str]) -> None:
        """Outline and letter the tiles in ``marks`` (e.g. {3: "A", 7: "B"}), as morph endpoints."""
        self._marks = dict(marks)
        self.update()

    def marks(self) -> dict[int, str]:
        return dict(self._marks)

    def labels(self) -> list[str]:
        """The captions drawn under the tiles (empty when none are drawn)."""
        return list(self._labels)

    # ---------------------------------------------------------------- layout
    def _label_height(self) -> int:
        return self.fontMetrics().height() + 4 if self._labels else 0

    def tile_size(self) -> int:
        n = len(self._faces)
        if n == 0:
            return 0
        nrows = math.ceil(n / self._ncols)
        avail_w = (self.width() - (self._ncols + 1) * self._spacing) / self._ncols
        avail_h = (self.height() - (nrows + 1) * self._spacing) / nrows - self._label_height()
        side = int(max(8, min(avail_w, avail_h)))
        if self._max_tile:
            side = min(side, self._max_tile)
        res = self._faces.shape[1]
        # Snap to a whole multiple when that loses little space: every source pixel then has the same size.
        snapped = side // res * res
        return snapped if snapped >= 0.9 * side else side

    def tile_rect(self, index: int) -> QRect:
        """Where tile ``index`` is drawn (widget coordinates); tests click its centre."""
        n, side = len(self._faces), self.tile_size()
        nrows = math.ceil(n / self._ncols)
        cell_h = side + self._label_height()
        grid_w = self._ncols * side + (self._ncols - 1) * self._spacing
        grid_h = nrows * cell_h + (nrows - 1) * self._spacing
        x0 = (self.width() - grid_w) // 2
        y0 = (self.height() - grid_h) // 2
        row, col = divmod(index, self._ncols)
        return QRect(x0 + col * (side + self._spacing), y0 + row * (cell_h + self._spacing), side, side)

    def index_at(self, pos: QPoint) -> int | None:
        for i in range(len(self._faces)):
            if self.tile_rect(i).contains(pos):
                return i
        return None

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(480, 480)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(self._min_tile * 2, self._min_tile)

    # ------------------------------------------------------------------ paint
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        if not self._pixmaps:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        side, res = self.tile_size(), self._faces.shape[1]
        factor = max(1, side // res)
        # "Sharp bilinear": nearest-neighbour up by a whole factor, then a smooth fit for the
        # fractional rest, so pixels stay crisp and evenly sized at any tile size.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, side % res != 0)
        for i, pixmap in enumerate(self._pixmaps):
            rect = self.tile_rect(i)
            painter.drawPixmap(rect, self._scaled(i, pixmap, factor * res))
            mark = self._marks.get(i)
            if mark or i == self._hover:
                color = self.palette().highlight().color() if mark else QColor(255, 255, 255, 150)
                painter.setPen(QPen(color, 3 if mark else 2))
                painter.drawRect(rect.adjusted(-2, -2, 1, 1))
            if mark:  # the letter in a corner badge, so A and B are told apart
                badge = QRect(rect.left(), rect.top(), 14 * len(mark) + 6, 18)
                painter.fillRect(badge, self.palette().highlight())
                painter.setPen(self.palette().highlightedText().color())
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, mark)
            if self._labels and i < len(self._labels):
                painter.setPen(self.palette().text().color())
                label_rect = QRect(rect.left(), rect.bottom() + 2, rect.width(), self._label_height())
                painter.drawText(label_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                                 self._labels[i])

    def _scaled(self, index: int, pixmap, size: int):
        key = (index, size)
        cached = self._scaled_cache.get(key)
        if cached is None:
            cached = pixmap if size == pixmap.width() else pixmap.scaled(
                size, size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation)
            self._scaled_cache[key] = cached
        return cached

    # ------------------------------------------------------------------ mouse
    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            index = self.index_at(event.pos())
            if index is not None and index < len(self._tooltips):
                QToolTip.showText(event.globalPos(), self._tooltips[index], self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position().toPoint()
        self._press_index = self.index_at(pos)
        self._press_pos = pos if event.button() == Qt.MouseButton.LeftButton else None
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position().toPoint()
        hover = self.index_at(pos)
        if hover != self._hover:
            self._hover = hover
            self.setCursor(Qt.CursorShape.PointingHandCursor if hover is not None else Qt.CursorShape.ArrowCursor)
            self.update()
        if (self._press_pos is not None and self._press_index is not None
                and (pos - self._press_pos).manhattanLength() >= QApplication.startDragDistance()):
            index, self._press_pos = self._press_index, None
            self.drag_requested.emit(index)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = event.position().toPoint()
        if (event.button() == Qt.MouseButton.LeftButton and self._press_pos is not None
                and self._press_index is not None and self.index_at(pos) == self._press_index):
            self.clicked.emit(self._press_index, event.modifiers())
        self._press_pos = None
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt override
        index = self.index_at(event.pos())
        if index is not None:
            self.context_requested.emit(index, event.globalPos())

    def start_drag(self, mime: QMimeData, index: int) -> None:
        """Run a QDrag with ``mime`` and a thumbnail of tile ``index`` (blocks until drop, as Qt does)."""
        drag = QDrag(self)
        drag.setMimeData(mime)
        if 0 <= index < len(self._faces):
            drag.setPixmap(array_to_pixmap(self._faces[index], 96))
            drag.setHotSpot(QPoint(48, 48))
        drag.exec(Qt.DropAction.CopyAction)
