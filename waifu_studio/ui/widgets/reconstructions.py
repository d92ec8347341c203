"""Reconstructions panel: real faces beside what an AE / VAE makes of them, with PSNR per face.

Loading, encoding, decoding and the grid image are all made in a worker; the GUI thread only
shows the finished picture. GANs have no encoder, so the panel says so instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.io.export import save_image
from ...core.models import FaceModel
from ...core.quality.reconstructions import ReconResult, reconstruct_faces
from ..dialogs import ask_folder, ask_png_path
from ..images import array_to_pixmap
from ..session import Session
from ..workers import Jobs

NO_ENCODER = ("Reconstructions need an encoder (AE or VAE).\n"
              "Load an autoencoder or a VAE to compare faces with their reconstructions.")


class ReconstructionsPanel(QWidget):
    """Real faces and their reconstructions side by side."""

    computed = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._model: FaceModel | None = None
        self._folder: str | None = None
        self.jobs = Jobs(self)
        self.result: ReconResult | None = None

        self.source_box = QComboBox()
        self.source_box.addItems(["Built-in faces", "Folder..."])
        self.source_box.activated.connect(self._on_source_chosen)
        self.count_box = QSpinBox()
        self.count_box.setRange(4, 512)
        self.count_box.setValue(64)
        self.count_box.setPrefix("Faces: ")
        self.compute_button = QPushButton("Reconstruct")
        self.compute_button.clicked.connect(self.compute)
        self.export_button = QPushButton("Export PNG...")
        self.export_button.clicked.connect(self._ask_export)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        controls = QHBoxLayout()
        for w in (self.source_box, self.count_box, self.compute_button, self.progress):
            controls.addWidget(w)
        controls.addStretch(1)
        controls.addWidget(self.export_button)

        self.summary_label = QLabel("")
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label = QLabel(NO_ENCODER)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setStyleSheet("QLabel { color: #8a8f98; font-size: 15px; }")
        self.grid_label = QLabel()
        self.grid_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.grid_label)
        self.scroll.setWidgetResizable(True)
        self.scroll.setStyleSheet("QScrollArea { background: #ffffff; }")

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.message_label, 1)
        layout.addWidget(self.scroll, 1)
        session.model_changed.connect(self._on_model_changed)
        self._on_model_changed(session.model)

    # --------------------------------------------------------------- public
    def set_folder(self, path: str | os.PathLike | None) -> None:
        """Use faces from ``path`` (None: the built-in set) and recompute."""
        self._folder = None if path is None else os.fspath(path)
        self.source_box.setCurrentIndex(0 if path is None else 1)
        if path is not None:
            self.source_box.setItemText(1, f"Folder: {Path(self._folder).name}")
        self.compute()

    def compute(self) -> None:
        model = self._model
        if model is None or not model.has_encoder:
            return
        folder, count = self._folder, self.count_box.value()
        self.progress.show()
        self.summary_label.setText("Reconstructing...")
        self.jobs.submit("reconstruct",
                         lambda ctx: reconstruct_faces(model, folder, count, progress=ctx.progress, cancel=ctx.cancel),
                         on_result=self._on_result, on_error=self._on_error, on_finished=self.progress.hide)

    def export_png(self, path: str | os.PathLike) -> Path | None:
        """The grid as shown (pairs with their PSNR)."""
        if self.result is None:
            return None
        return save_image(self.result.grid, path)

    def shutdown(self) -> None:
        self.jobs.shutdown()

    def closeEvent(self, event) -> None:  # noqa: ANN001 - QCloseEvent
        self.shutdown()
        super().closeEvent(event)

    # -------------------------------------------------------------- private
    def _on_model_changed(self, model: FaceModel | None) -> None:
        self.jobs.cancel()
        self.progress.hide()
        self._model = model
        self.result = None
        self.grid_label.clear()
        self.summary_label.setText("")
        usable = model is not None and model.has_encoder
        self.message_label.setText(NO_ENCODER if model is not None else "Load a model first.")
        self.message_label.setVisible(not usable)
        self.scroll.setVisible(usable)
        for w in (self.source_box, self.count_box, self.compute_button, self.export_button):
            w.setEnabled(usable)
        if usable:
            self.compute()  # the built-in set is small: show something at once

    def _on_result(self, result: ReconResult) -> None:
        self.result = result
        m = result.metrics
        self.summary_label.setText(
            f"<b>{result.description}</b> &nbsp; PSNR <b>{m['psnr']:.2f} dB</b> (from the mean MSE "
            f"{m['recon_mse']:.5f}) &nbsp; mean per-face PSNR {m['psnr_per_image_mean']:.2f} dB &nbsp; "
            f"worst {np.min(result.psnrs):.1f} dB, best {np.max(result.psnrs):.1f} dB. "
            "Each tile: real face | reconstruction.")
        self.grid_label.setPixmap(array_to_pixmap(result.grid))
        self.computed.emit()

    def _on_error(self, message: str) -> None:
        self.summary_label.setText("Failed.")
        self.session.report_error("Reconstructions", message)

    def _on_source_chosen(self, index: int) -> None:
        if index == 0:
            self.set_folder(None)
            return
        path = ask_folder(self, self.session.settings, "dataset", "Folder of faces")
        if path is not None:
            self.set_folder(path)
        else:
            self.source_box.setCurrentIndex(0 if self._folder is None else 1)

    def _ask_export(self) -> None:
        path = ask_png_path(self, self.session.settings, "Export reconstructions", "reconstructions.png")
        if path is not None:
            try:
                self.export_png(path)
            except Exception as err:  # noqa: BLE001 - any failure is shown to the user
                self.session.report_error("Export PNG", str(err))
