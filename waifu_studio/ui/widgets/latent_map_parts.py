"""Parts of the latent map panel: its background jobs, colour palette and side-panel controls."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.explore.map_stream import build_map_source
from ...core.explore.maps import MapSource
from ...core.explore.projection import ProjectionParams, pca_2d
from ...core.explore.projection.process import project_in_process
from ...core.models import FaceModel
from .face_tile import FaceLabel

PREVIEW_PX = 256
METHODS = {"PCA": "pca", "t-SNE": "tsne", "UMAP": "umap"}
COLOUR_MODES = ("None", "k-means cluster (8)", "Dominant hair hue")
CLUSTER_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")
BLEND_NEIGHBOURS = 5


def _build(model: FaceModel, data: str, n: int, progress: Callable,
           cancel: threading.Event) -> tuple[MapSource, np.ndarray]:
    source = build_map_source(model, data, n=n, cancel=cancel,
                              progress=lambda done, total: progress(("build", done / max(1, total))))
    return source, pca_2d(source.features)


def _project(features: np.ndarray, params: ProjectionParams, cache_key: str, progress: Callable,
             cancel: threading.Event) -> np.ndarray:
    # In a child process: openTSNE's and umap's imports, scipy and numba hold the GIL for up to
    # ~160 ms at a time, which froze the window when they ran in this worker thread.
    return project_in_process(features, params, cache_key=cache_key, cancel=cancel,
                              progress=lambda fraction, layout: progress(("project", fraction, layout)))


def _hue_palette(hues: np.ndarray) -> tuple[list[QBrush], np.ndarray]:
    """36 hue brushes and a grey one (index 36, for black/white/grey hair), and each point's index."""
    palette = [QBrush(QColor.fromHsvF(b / 36, 0.85, 0.95, 0.85)) for b in range(36)]
    palette.append(QBrush(QColor(150, 150, 150, 170)))
    hues = np.asarray(hues, np.float64)
    ids = np.where(hues < 0, 36, (np.clip(hues, 0.0, None) * 36).astype(np.intp) % 36)
    return palette, ids


class MapControls(QWidget):
    """The side panel: source, layout method and its settings, compute/cancel, colours, preview.

    Widgets only; ``LatentMapPanel`` wires their signals and exposes them under the same names.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source_box = QComboBox()
        self.source_box.addItems(["Model samples (prior)", "Dataset folder..."])
        self.n_box = QSpinBox()
        self.n_box.setRange(100, 50_000)
        self.n_box.setSingleStep(500)
        self.n_box.setValue(5000)
        self.folder_button = QPushButton("Choose folder...")
        self.folder_label = QLabel("(no folder)")
        self.folder_label.setWordWrap(True)
        source_form = QFormLayout()
        source_form.addRow("Points", self.source_box)
        source_form.addRow("Samples", self.n_box)
        source_form.addRow(self.folder_button, self.folder_label)

        self.method_box = QComboBox()
        self.method_box.addItems(list(METHODS))
        self.method_box.setCurrentText("t-SNE")
        self.perplexity_box = QDoubleSpinBox()
        self.perplexity_box.setRange(2, 200)
        self.perplexity_box.setValue(30)
        self.neighbors_box = QSpinBox()
        self.neighbors_box.setRange(2, 200)
        self.neighbors_box.setValue(15)
        self.min_dist_box = QDoubleSpinBox()
        self.min_dist_box.setRange(0.0, 1.0)
        self.min_dist_box.setSingleStep(0.05)
        self.min_dist_box.setValue(0.1)
        method_form = QFormLayout()
        method_form.addRow("Method", self.method_box)
        method_form.addRow("Perplexity", self.perplexity_box)
        method_form.addRow("Neighbours", self.neighbors_box)
        method_form.addRow("Min. distance", self.min_dist_box)
        self._method_rows = method_form

        self.compute_button = QPushButton("Compute map")
        self.compute_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.colour_box = QComboBox()
        self.colour_box.addItems(list(COLOUR_MODES))

        self.preview = FaceLabel(PREVIEW_PX, self, "Click a point\n(or empty space to blend)")
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        self.preview_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.set_a_button = QPushButton("Set as A")
        self.set_b_button = QPushButton("Set as B")
        self.export_button = QPushButton("Export PNG...")

        side = QVBoxLayout()
        for title, inner in (("Source", source_form), ("Layout", method_form)):
            box = QGroupBox(title)
            box.setLayout(inner)
            side.addWidget(box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compute_button, 1)
        buttons.addWidget(self.cancel_button)
        side.addLayout(buttons)
        side.addWidget(self.progress)
        side.addWidget(self.status)
        colour_row = QFormLayout()
        colour_row.addRow("Colour by", self.colour_box)
        side.addLayout(colour_row)
        side.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.preview_caption)
        ab = QHBoxLayout()
        ab.addWidget(self.set_a_button)
        ab.addWidget(self.set_b_button)
        side.addLayout(ab)
        side.addStretch(1)
        side.addWidget(self.export_button)
        self.setLayout(side)
        self.setFixedWidth(320)

