"""Parts of the latent map panel: its background jobs, colour palettes and legend, side-panel controls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.explore.map_stream import stream_map_source
from ...core.explore.maps import MapSource
from ...core.explore.projection import ProjectionParams
from ...core.explore.projection.process import project_in_process
from ...core.explore.spatial import GridIndex
from ...core.models import FaceModel
from ...state.map import SOURCES, MapSettings
from .face_tile import FaceLabel

PREVIEW_PX = 192
METHODS = {"PCA": "pca", "t-SNE": "tsne", "UMAP": "umap"}
COLOURINGS = {"None": "none", "k-means cluster (8)": "cluster", "Dominant hair hue": "hue",
              "Reconstruction error": "recon", "Distance to nearest neighbours": "knn"}
COLOUR_MODES = tuple(COLOURINGS)
CLUSTER_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")
BLEND_NEIGHBOURS = 5
MAX_SAMPLES = 1_000_000
SCALE_STEPS = 32  # continuous colourings (errors, distances) are drawn in this many colours


def _stream(model: FaceModel, data: str, n: int, progress: Callable,
            cancel: threading.Event) -> tuple[MapSource, GridIndex]:
    """The map's points and the grid index of their PCA layout, reporting every partial set.

    Each partial set with a layout comes with its ``GridIndex``, built here (not on the GUI
    thread, where sorting the points of a big partial map would stall the window).
    """
    step = None
    for step in stream_map_source(model, data, n=n, cancel=cancel):
        drawn = step.layout is not None and step.source is not None and step.stage != "done"
        progress(("build", step, GridIndex(step.layout) if drawn else None))
    return step.source, GridIndex(step.layout)


def _project(features: np.ndarray, params: ProjectionParams, cache_key: str, progress: Callable,
             cancel: threading.Event) -> tuple[np.ndarray, GridIndex]:
    """The chosen layout and its grid index; intermediate frames are reported with theirs."""

    def frame(fraction: float, layout: np.ndarray | None) -> None:
        # Frames of every point are drawn (a sampled t-SNE's frames of its sample are not).
        drawn = layout is not None and fraction < 1.0 and len(layout) == len(features)
        index = GridIndex(layout) if drawn else None
        progress(("project", fraction, layout, index))

    # In a child process: openTSNE's and umap's imports, scipy and numba hold the GIL for up to
    # ~160 ms at a time, which froze the window when they ran in this worker thread.
    layout = project_in_process(features, params, cache_key=cache_key, cancel=cancel, progress=frame)
    return layout, GridIndex(layout)  # sorting a million points takes ~0.1 s: not on the GUI thread


def _hue_palette(hues: np.ndarray) -> tuple[list[QBrush], np.ndarray]:
    """36 hue brushes and a grey one (index 36, for black/white/grey hair), and each point's index."""
    palette = [QBrush(QColor.fromHsvF(b / 36, 0.85, 0.95, 0.85)) for b in range(36)]
    palette.append(QBrush(QColor(150, 150, 150, 170)))
    hues = np.asarray(hues, np.float64)
    ids = np.where(hues < 0, 36, (np.clip(hues, 0.0, None) * 36).astype(np.intp) % 36)
    return palette, ids


def scale_palette(values: np.ndarray) -> tuple[list[QBrush], np.ndarray, float, float]:
    """Blue (low) to red (high) in SCALE_STEPS colours by rank between the 1st and 99th percentile."""
    values = np.asarray(values, np.float64)
    low, high = (np.quantile(values, [0.01, 0.99]) if len(values) else (0.0, 1.0))
    span = high - low if high > low else 1.0
    ids = np.clip(((values - low) / span * SCALE_STEPS).astype(np.intp), 0, SCALE_STEPS - 1)
    palette = [QBrush(QColor.fromHsvF(0.66 * (1 - s / (SCALE_STEPS - 1)), 0.8, 0.95, 0.9)) for s in range(SCALE_STEPS)]
    return palette, ids, float(low), float(high)


def legend_html(mode: str, values: np.ndarray | None, extra: tuple[float, float] | None = None) -> str:
    """Rich text naming what each colour means (empty for uncoloured maps)."""
    if mode == "none" or values is None:
        return ""
    if mode == "cluster":
        counts = np.bincount(np.asarray(values, np.intp), minlength=len(CLUSTER_COLOURS))
        return "Clusters: " + " ".join(f"<span style='color:{c}'>&#9632;</span>{i + 1} ({counts[i]:,})"
                                      for i, c in enumerate(CLUSTER_COLOURS) if counts[i])
    if mode == "hue":
        swatches = "".join(f"<span style='color:{QColor.fromHsvF(h / 12, 0.85, 0.95).name()}'>&#9632;</span>"
                           for h in range(12))
        grey = int((np.asarray(values) < 0).sum())
        return f"Hair hue: {swatches} <span style='color:#969696'>&#9632;</span> grey/black/white ({grey:,})"
    low, high = extra if extra is not None else (0.0, 1.0)
    ramp = "".join(f"<span style='color:{QColor.fromHsvF(0.66 * (1 - s / 7), 0.8, 0.95).name()}'>&#9632;</span>"
                   for s in range(8))
    what = "reconstruction error (MSE)" if mode == "recon" else "mean distance to 5 nearest codes"
    return f"{what}: {low:.4g} {ramp} {high:.4g}<br>red = unlike the rest: select them to inspect or exclude"


def _name_of(names: dict[str, str], value: str) -> str:
    """The on-screen name of a settings value (``METHODS`` and ``COLOURINGS`` map names to values)."""
    return next(name for name, v in names.items() if v == value)


def short_path(path: str, label: QLabel, width: int) -> str:
    """``path`` elided on the left to fit ``width`` pixels: the end of a path tells folders apart."""
    return QFontMetrics(label.font()).elidedText(path, Qt.TextElideMode.ElideLeft, width)


class MapControls(QWidget):
    """The side panel: source, layout method and its settings, compute/cancel, colours, preview.

    Widgets only; ``LatentMapPanel`` wires their signals and exposes them under the same names.
    Everything but Export scrolls, so the panel fits a 1024x700 window whatever rows are shown.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source_box = QComboBox()
        self.source_box.addItems(["Model samples (prior)", "Dataset folder..."])
        self.n_box = QSpinBox()
        self.n_box.setRange(100, MAX_SAMPLES)
        self.n_box.setSingleStep(500)
        self.n_box.setGroupSeparatorShown(True)
        self.n_box.setValue(5000)
        self.folder_button = QPushButton("Choose folder...")
        self.folder_label = QLabel("(no folder)")
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
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.excluded_label = QLabel("")  # how many faces on the map are crossed out (excluded from training)
        self.excluded_label.setWordWrap(True)
        self.excluded_label.setStyleSheet("QLabel { color: #ff6060; }")
        self.shape_box = QComboBox()
        self.shape_box.addItems(["Lasso", "Box"])
        self.shape_box.setToolTip("What shift-drag on the map draws to select points")

        self.preview = FaceLabel(PREVIEW_PX, self, "Click a point\n(or empty space to blend)")
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        self.preview_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.set_a_button = QPushButton("Set as A")
        self.set_b_button = QPushButton("Set as B")
        self.export_button = QPushButton("Export PNG...")

        inner = QWidget()
        side = QVBoxLayout(inner)
        side.setContentsMargins(0, 0, 4, 0)
        for title, form in (("Source", source_form), ("Layout", method_form)):
            box = QGroupBox(title)
            box.setLayout(form)
            side.addWidget(box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compute_button, 1)
        buttons.addWidget(self.cancel_button)
        side.addLayout(buttons)
        side.addWidget(self.progress)
        side.addWidget(self.status)
        rows = QFormLayout()
        rows.addRow("Colour by", self.colour_box)
        rows.addRow("Shift-drag", self.shape_box)
        side.addLayout(rows)
        side.addWidget(self.legend)
        side.addWidget(self.excluded_label)
        side.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.preview_caption)
        ab = QHBoxLayout()
        ab.addWidget(self.set_a_button)
        ab.addWidget(self.set_b_button)
        side.addLayout(ab)
        side.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self.export_button)  # outside the scroll area: never hidden
        self.setFixedWidth(320)

    def bind(self, settings: MapSettings) -> None:
        """Mirror ``settings`` both ways: editing a widget sets its field, a changed field shows in its widget."""
        s = settings
        self.source_box.currentIndexChanged.connect(lambda i: setattr(s, "source", SOURCES[i]))
        self.n_box.valueChanged.connect(lambda v: setattr(s, "n", v))
        self.method_box.currentTextChanged.connect(lambda t: setattr(s, "method", METHODS[t]))
        self.perplexity_box.valueChanged.connect(lambda v: setattr(s, "perplexity", v))
        self.neighbors_box.valueChanged.connect(lambda v: setattr(s, "n_neighbors", v))
        self.min_dist_box.valueChanged.connect(lambda v: setattr(s, "min_dist", v))
        self.colour_box.currentTextChanged.connect(lambda t: setattr(s, "colour", COLOURINGS[t]))
        self.shape_box.currentTextChanged.connect(lambda t: setattr(s, "select_shape", t.lower()))
        s.events.source.connect(lambda v: self.source_box.setCurrentIndex(SOURCES.index(v)))
        s.events.folder.connect(self.show_folder)
        s.events.method.connect(lambda v: self.method_box.setCurrentText(_name_of(METHODS, v)))
        s.events.colour.connect(lambda v: self.colour_box.setCurrentText(_name_of(COLOURINGS, v)))

    def sync(self, settings: MapSettings) -> None:
        """Show the rows of the chosen method; the sample count for samples, the folder button for a folder."""
        self._method_rows.setRowVisible(self.perplexity_box, settings.method == "tsne")
        self._method_rows.setRowVisible(self.neighbors_box, settings.method == "umap")
        self._method_rows.setRowVisible(self.min_dist_box, settings.method == "umap")
        folder = settings.source == "folder"
        self.n_box.setEnabled(not folder)
        self.folder_button.setEnabled(folder)

    def show_folder(self, path: str) -> None:
        """The folder label: as much of the path's end as fits, the whole path as its tooltip."""
        self.folder_label.setText(short_path(path, self.folder_label, 170) if path else "(no folder)")
        self.folder_label.setToolTip(path)
        self.folder_label.setAccessibleName(str(Path(path).name) if path else "")
