"""Small shared pieces for face-showing panels: a face label and the latent drag-and-drop format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QByteArray, QMimeData, QPoint, Qt
from PySide6.QtGui import QDrag, QMouseEvent
from PySide6.QtWidgets import QApplication, QLabel, QSizePolicy, QWidget

from ..images import array_to_pixmap, array_to_qimage

# Panels drag faces in this format: the latent's raw float32 bytes (label as text/plain), and,
# when known, the seed and the model the latent belongs to (a drop target checks it).
LATENT_MIME = "application/x-waifu-latent"
SEED_MIME = "application/x-waifu-seed"
MODEL_MIME = "application/x-waifu-model"


@dataclass(frozen=True)
class DraggedFace:
    """What a face drag carries."""

    latent: np.ndarray
    label: str
    seed: int | None = None
    model_key: str | None = None


def latent_mime_data(latent: np.ndarray, label: str = "", *, face: np.ndarray | None = None,
                     seed: int | None = None, model_key: str | None = None) -> QMimeData:
    """Mime data carrying one face's latent, label, seed and model (and its image for other apps)."""
    mime = QMimeData()
    mime.setData(LATENT_MIME, QByteArray(np.ascontiguousarray(latent, np.float32).tobytes()))
    if label:
        mime.setText(label)
    if seed is not None:
        mime.setData(SEED_MIME, QByteArray(str(int(seed)).encode()))
    if model_key is not None:
        mime.setData(MODEL_MIME, QByteArray(model_key.encode()))
    if face is not None:
        mime.setImageData(array_to_qimage(face))
    return mime


def face_from_mime(mime: QMimeData) -> DraggedFace | None:
    """The face a drag carries, or None when it carries none."""
    latent = latent_from_mime(mime)
    if latent is None:
        return None
    seed_text = bytes(mime.data(SEED_MIME).data()).decode() if mime.hasFormat(SEED_MIME) else ""
    model = bytes(mime.data(MODEL_MIME).data()).decode() if mime.hasFormat(MODEL_MIME) else None
    return DraggedFace(latent, mime.text() or "dropped face", int(seed_text) if seed_text.isdigit() else None, model)


def latent_from_mime(mime: QMimeData) -> np.ndarray | None:
    """The latent a drag carries, or None when it carries none."""
    if not mime.hasFormat(LATENT_MIME):
        return None
    raw = bytes(mime.data(LATENT_MIME).data())
    if not raw or len(raw) % 4:
        return None
    return np.frombuffer(raw, np.float32).copy()


class FaceLabel(QLabel):
    """Shows one uint8 face scaled (nearest: pixels stay crisp) to a fixed square size.

    ``face()`` returns exactly the array last shown, so tests can read what the user sees.
    """

    def __init__(self, size: int, parent: QWidget | None = None, placeholder: str = "") -> None:
        super().__init__(parent)
        self._size = size
        self._face: np.ndarray | None = None
        self.setFixedSize(size, size)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("QLabel { background: #20232a; color: #8a8f98; border-radius: 4px; }")
        self.setText(placeholder)
        # Set to a callable returning (latent, label) or (latent, label, model key) to let the user drag
        # this face elsewhere (a drop target refuses a face of another model when the key is given).
        self.drag_payload: Callable[[], tuple | None] | None = None
        self._press_pos: QPoint | None = None

    def mime_data(self) -> QMimeData | None:
        """What dragging this face carries (its latent), or None when it carries nothing."""
        payload = self.drag_payload() if self.drag_payload is not None else None
        if payload is None or self._face is None:
            return None
        latent, label, *rest = payload
        return latent_mime_data(latent, label, face=self._face, model_key=rest[0] if rest else None)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press_pos = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        start = self._press_pos
        if start is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return super().mouseMoveEvent(event)
        if (event.position().toPoint() - start).manhattanLength() < QApplication.startDragDistance():
            return None
        mime = self.mime_data()
        self._press_pos = None
        if mime is not None:
            drag = QDrag(self)
            drag.setMimeData(mime)
            drag.setPixmap(array_to_pixmap(self._face, 64))
            drag.exec(Qt.DropAction.CopyAction)
        return None

    def set_face(self, face: np.ndarray | None) -> None:
        self._face = None if face is None else np.asarray(face, np.uint8).copy()
        if self._face is None:
            self.clear()
            return
        self.setPixmap(array_to_pixmap(self._face, self._size))

    def face(self) -> np.ndarray | None:
        return self._face
