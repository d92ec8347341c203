"""The morph panel's strip of K frames: drawn as one image, frames clickable and draggable."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..images import array_to_pixmap
from .face_tile import latent_mime_data

MAX_TILE_PX = 120
GAP_PX = 4


class StripView(QWidget):
    """K faces side by side, scaled to fit the width; a marker shows the handle's position."""

    frame_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._frames = np.zeros((0, 1, 1, 3), np.uint8)
        self._latents = np.zeros((0, 1), np.float32)
        self._pixmaps: list = []
        self._t = 0.0
        self._press: QPoint | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(60)
        self.setToolTip("Click a frame to move the handle there; drag a frame to another panel or well")

    def set_frames(self, frames: np.ndarray, latents: np.ndarray) -> None:
        self._frames, self._latents = frames, latents
        self._pixmaps = [array_to_pixmap(f) for f in frames]
        self.updateGeometry()
        self.setFixedHeight(self.tile_size() + 2 * GAP_PX)
        self.update()

    def set_position(self, t: float) -> None:
        self._t = float(t)
        self.update()

    def frames(self) -> np.ndarray:
        return self._frames

    # ------------------------------------------------------------- geometry
    def tile_size(self) -> int:
        k = max(1, len(self._frames))
        return int(max(16, min(MAX_TILE_PX, (self.width() - GAP_PX * (k + 1)) // k)))

    def tile_rect(self, i: int) -> QRect:
        k, tile = len(self._frames), self.tile_size()
        total = k * tile + (k - 1) * GAP_PX
        left = (self.width() - total) // 2
        return QRect(left + i * (tile + GAP_PX), GAP_PX, tile, tile)

    def frame_at(self, pos: QPoint) -> int | None:
        for i in range(len(self._frames)):
            if self.tile_rect(i).adjusted(-GAP_PX // 2, 0, GAP_PX // 2, 0).contains(pos):
                return i
        return None

    def sizeHint(self) -> QSize:
        return QSize(800, MAX_TILE_PX + 2 * GAP_PX)

    def resizeEvent(self, event) -> None:  # noqa: ANN001 - QResizeEvent
        self.setFixedHeight(self.tile_size() + 2 * GAP_PX)
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#181a1f"))
        k = len(self._pixmaps)
        for i, pixmap in enumerate(self._pixmaps):
            painter.drawPixmap(self.tile_rect(i), pixmap)
        if k >= 2:
            # A thin marker where the handle sits, between the two frames it falls between.
            first, last = self.tile_rect(0).center().x(), self.tile_rect(k - 1).center().x()
            x = round(first + self._t * (last - first))
            painter.setPen(QPen(QColor("#ffcc33"), 2))
            painter.drawLine(x, 0, x, self.height())
        painter.end()

    # ---------------------------------------------------------- interaction
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None or (event.position().toPoint() - self._press).manhattanLength() < 8:
            return
        i = self.frame_at(self._press)
        self._press = None
        if i is None:
            return
        k = len(self._frames)
        drag = QDrag(self)
        drag.setMimeData(latent_mime_data(self._latents[i], f"morph frame {i + 1}/{k}"))
        drag.setPixmap(self._pixmaps[i].scaled(64, 64))
        drag.exec(Qt.DropAction.CopyAction)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press is not None:
            i = self.frame_at(event.position().toPoint())
            if i is not None:
                self.frame_clicked.emit(i)
        self._press = None
        super().mouseReleaseEvent(event)
