"""Small shared pieces for face-showing panels: a face label and the latent drag-and-drop format."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QByteArray, QMimeData, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from ..images import array_to_pixmap

# Other panels start drags in this format: the latent's raw float32 bytes (label as text/plain).
LATENT_MIME = "application/x-waifu-latent"


def latent_mime_data(latent: np.ndarray, label: str = "") -> QMimeData:
    """Mime data carrying one latent (and its label for drop targets that show text)."""
    mime = QMimeData()
    mime.setData(LATENT_MIME, QByteArray(np.ascontiguousarray(latent, np.float32).tobytes()))
    if label:
        mime.setText(label)
    return mime


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

    def set_face(self, face: np.ndarray | None) -> None:
        self._face = None if face is None else np.asarray(face, np.uint8).copy()
        if self._face is None:
            self.clear()
            return
        self.setPixmap(array_to_pixmap(self._face, self._size))

    def face(self) -> np.ndarray | None:
        return self._face
