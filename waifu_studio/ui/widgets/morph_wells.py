"""An endpoint well of the morph panel: face, label, seed controls; accepts latent and image drops."""

from __future__ import annotations

import random

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QDrag, QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ...core.models.seeds import MAX_SEED
from .face_tile import LATENT_MIME, FaceLabel, face_from_mime, latent_mime_data

WELL_FACE_PX = 160


class EndpointWell(QFrame):
    """One morph end. Emits requests; the panel does the work and calls :meth:`show_endpoint`."""

    seed_requested = Signal(int)
    face_dropped = Signal(object)  # DraggedFace
    file_dropped = Signal(str)
    open_requested = Signal()  # "Open image...": the panel asks for a file
    cancel_requested = Signal()

    def __init__(self, which: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.which = which
        self._latent: np.ndarray | None = None
        self._seed: int | None = None
        self._model_key: str | None = None
        self._press: QPoint | None = None
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("well")
        self._set_highlight(False)

        title = QLabel(f"<b>{which}</b>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.face = FaceLabel(WELL_FACE_PX, self, "Drop a face\nor an image file")
        self.caption = QLabel("-")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.caption.setMaximumWidth(WELL_FACE_PX + 20)

        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.seed_box.setValue(0 if which == "A" else 1)
        self.seed_box.setToolTip("Seed of this endpoint's face")
        self.use_seed = QPushButton("Use seed")
        self.randomize = QPushButton("Randomize")
        self.open_button = QPushButton("Open image...")
        self.open_button.setToolTip("Use a face from an image file (encoded, or found by inversion for a GAN)")
        self.use_seed.clicked.connect(self._apply_seed)
        self.seed_box.lineEdit().returnPressed.connect(self._apply_seed)  # Enter applies the typed seed
        self.randomize.clicked.connect(self._randomize)
        self.open_button.clicked.connect(self.open_requested)

        # Inversion of a dropped image (GANs) takes seconds: show it and let the user stop it.
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancel_requested)
        busy_row = QHBoxLayout()
        busy_row.addWidget(self.progress, 1)
        busy_row.addWidget(self.cancel)
        self.set_busy(False)

        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_box, 1)
        seed_row.addWidget(self.use_seed)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.face, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.caption)
        layout.addLayout(seed_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.randomize)
        buttons.addWidget(self.open_button)
        layout.addLayout(buttons)
        layout.addLayout(busy_row)
        layout.addStretch(1)

    # ----------------------------------------------------------------- state
    def show_endpoint(self, latent: np.ndarray | None, face: np.ndarray | None, label: str,
                      seed: int | None = None, *, model_key: str | None = None, note: str = "") -> None:
        """Show an endpoint; ``note`` (e.g. "from another model") is shown under its label."""
        self._latent = None if latent is None else np.asarray(latent, np.float32)
        self._seed, self._model_key = seed, model_key
        self.face.set_face(face)
        if face is None:
            self.face.setText("Drop a face\nor an image file")
        self.caption.setText((label or "-") + (f"\n{note}" if note else ""))
        self.caption.setStyleSheet("QLabel { color: #e8a33d; }" if note else "")
        if seed is not None and seed != self.seed_box.value():
            self.seed_box.blockSignals(True)
            self.seed_box.setValue(int(seed))
            self.seed_box.blockSignals(False)

    def set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        self.cancel.setEnabled(busy)
        self.progress.setValue(0)
        if text:
            self.progress.setFormat(text)
        for w in (self.use_seed, self.randomize, self.seed_box, self.open_button):
            w.setEnabled(not busy)

    def set_stopping(self) -> None:
        """Cancel was pressed during an inversion: it ends at its next step with the best face so far."""
        self.cancel.setEnabled(False)
        self.progress.setFormat("Stopping: keeping the best face so far...")

    def _apply_seed(self) -> None:
        self.seed_box.interpretText()
        self.seed_requested.emit(self.seed_box.value())

    def _randomize(self) -> None:
        seed = random.randint(0, 99_999)  # small numbers are easy to note down and type back in
        self.seed_box.setValue(seed)
        self.seed_requested.emit(seed)

    def _set_highlight(self, on: bool) -> None:
        colour = "#4a90d9" if on else "transparent"
        self.setStyleSheet(f"QFrame#well {{ border: 2px dashed {colour}; border-radius: 6px; }}")

    # ------------------------------------------------------------ drag, drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(LATENT_MIME) or (mime.hasUrls() and any(u.isLocalFile() for u in mime.urls())):
            self._set_highlight(True)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: ANN001 - QDragLeaveEvent
        self._set_highlight(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_highlight(False)
        mime = event.mimeData()
        face = face_from_mime(mime)
        if face is not None:
            self.face_dropped.emit(face)
            event.acceptProposedAction()
            return
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        if files:
            self.file_dropped.emit(files[0])
            event.acceptProposedAction()

    # The well's own face can be dragged to the other well or to other panels.
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.face.geometry().contains(event.position().toPoint()):
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is not None and self._latent is not None and \
                (event.position().toPoint() - self._press).manhattanLength() > 8:
            self._press = None
            drag = QDrag(self)
            drag.setMimeData(latent_mime_data(self._latent, self.caption.text().split("\n")[0], seed=self._seed,
                                              model_key=self._model_key))
            if self.face.pixmap() is not None:
                drag.setPixmap(self.face.pixmap().scaled(64, 64))
            drag.exec(Qt.DropAction.CopyAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        super().mouseReleaseEvent(event)
