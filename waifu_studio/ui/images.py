"""numpy uint8 images <-> QImage/QPixmap. Only the GUI thread turns arrays into pixmaps."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def array_to_qimage(image: np.ndarray) -> QImage:
    """(H, W, 3) uint8 -> QImage that owns a copy of the pixels."""
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8, got {arr.shape}")
    h, w, _ = arr.shape
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def array_to_pixmap(image: np.ndarray, size: int | None = None, smooth: bool = False) -> QPixmap:
    """Pixmap of ``image``, scaled to ``size`` px on its longer side (nearest by default: faces stay crisp)."""
    pixmap = QPixmap.fromImage(array_to_qimage(image))
    if size is not None and size != max(image.shape[:2]):
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        pixmap = pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode)
    return pixmap


def qimage_to_array(image: QImage) -> np.ndarray:
    """QImage -> (H, W, 3) uint8 copy (used by tests to read what a widget shows)."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()
