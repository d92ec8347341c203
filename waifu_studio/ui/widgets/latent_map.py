"""Latent map panel: lay out thousands of latent codes in 2-D, click or hover to see their faces.

Flow: ``build_map_source`` in a task (samples or encodes the points), then the instant PCA map,
then ``project`` with the chosen method in a second task (which runs it in a child process, so
nothing it does can hold up this window) whose intermediate t-SNE layouts are drawn as they
arrive. ``core.projection`` caches finished maps, so reopening one is instant.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QWidget,
)

from ...core.explore.face_features import dominant_hue
from ...core.explore.maps import MapSource, render_map_png
from ...core.explore.projection import (
    ProjectionParams,
    blend_weights,
    kmeans_labels,
    nearest_points,
)
from ...core.explore.reproduce import map_recipe
from ...core.io.export import save_image
from ...core.models import FaceModel
from ..images import qimage_to_array
from ..session import Session
from ..workers import Jobs, Task
from .latent_map_parts import (  # noqa: F401 - constants re-exported for callers of this module
    BLEND_NEIGHBOURS,
    CLUSTER_COLOURS,
    COLOUR_MODES,
    METHODS,
    PREVIEW_PX,
    MapControls,
    _build,
    _hue_palette,
    _project,
)
from .map_view import MapView


class LatentMapPanel(QWidget):
    """A 2-D map of the model's latent space."""

    map_ready = Signal()
    preview_rendered = Signal()
    colours_ready = Signal()
    layout_updated = Signal()  # any layout drawn, intermediate ones included

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._model: FaceModel | None = None
        self.source: MapSource | None = None
        self._final = False
        self.jobs = Jobs(self)
        self._colour_values: dict[str, np.ndarray] = {}
        self._selection: tuple[np.ndarray, str, tuple[float, float]] | None = None
        self._map_ends: dict[str, tuple[np.ndarray, tuple[float, float]]] = {}
        self.intermediate_layouts = 0
        self._build_ui()
        session.model_changed.connect(self._on_model_changed)
        session.endpoints_changed.connect(self._update_path)
        self._on_model_changed(session.model)

    # ------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        self.view = MapView(self)
        self.scatter = self.view.scatter
        self.view.point_clicked.connect(self.click_point)
        self.view.empty_clicked.connect(self.click_empty)

        c = self.controls = MapControls(self)
        for name in ("source_box", "n_box", "folder_button", "folder_label", "method_box", "perplexity_box",
                     "neighbors_box", "min_dist_box", "compute_button", "cancel_button", "progress", "status",
                     "colour_box", "preview", "preview_caption", "set_a_button", "set_b_button", "export_button"):
            setattr(self, name, getattr(c, name))
        self._method_rows = c._method_rows
        self._folder: str | None = None
        self.source_box.currentIndexChanged.connect(self._sync_controls)
        self.folder_button.clicked.connect(self._ask_folder)
        self.method_box.currentIndexChanged.connect(self._sync_controls)
        self.compute_button.clicked.connect(lambda: self._start())
        self.cancel_button.clicked.connect(self.cancel)
        self.colour_box.currentIndexChanged.connect(self._apply_colours)
        # Drag the previewed face onto a morph endpoint (the Morph tab's wells accept latents).
        self.preview.drag_payload = lambda: self._selection[:2] if self._selection is not None else None
        self.set_a_button.clicked.connect(lambda: self.set_selection_as("A"))
        self.set_b_button.clicked.connect(lambda: self.set_selection_as("B"))
        self.export_button.clicked.connect(self._ask_export)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(c)
        self._sync_controls()

    def _sync_controls(self) -> None:
        method = METHODS[self.method_box.currentText()]
        self._method_rows.setRowVisible(self.perplexity_box, method == "tsne")
        self._method_rows.setRowVisible(self.neighbors_box, method == "umap")
        self._method_rows.setRowVisible(self.min_dist_box, method == "umap")
        folder = self.source_box.currentIndex() == 1
        self.n_box.setEnabled(not folder)
        self.folder_button.setEnabled(folder)
        has_sel = self._selection is not None
        self.set_a_button.setEnabled(has_sel)
        self.set_b_button.setEnabled(has_sel)

    # --------------------------------------------------------------- public
    def layout(self) -> np.ndarray:  # type: ignore[override]  # the map's layout, not Qt's QLayout
        """The (N, 2) layout currently drawn."""
        return self.view.layout_array()

    def preview_face(self) -> np.ndarray | None:
        return self.preview.face()

    def set_folder(self, path: str | os.PathLike) -> None:
        self._folder = os.fspath(path)
        self.folder_label.setText(Path(self._folder).name or self._folder)
        self.folder_label.setToolTip(self._folder)
        self.source_box.setCurrentIndex(1)

    def compute(self, source: str = "prior", n: int | None = None, method: str = "pca", **params: float) -> None:
        """Set the controls as given and compute (``source`` is 'prior' or a folder path)."""
        if source == "prior":
            self.source_box.setCurrentIndex(0)
        else:
            self.set_folder(source)
        if n is not None:
            self.n_box.setValue(int(n))
        name = {v: k for k, v in METHODS.items()}[method]
        self.method_box.setCurrentText(name)
        for key, box in (("perplexity", self.perplexity_box), ("n_neighbors", self.neighbors_box),
                         ("min_dist", self.min_dist_box)):
            if key in params:
                box.setValue(params[key])
        self._start()

    def click_point(self, i: int) -> None:
        """Show point ``i``'s face large (the scatter's sigClicked lands here)."""
        if self.source is None or not 0 <= i < len(self.source.latents):
            return
        xy = tuple(float(v) for v in self.layout()[i])
        self._select(self.source.latents[i], self.source.labels[i], xy)

    def click_empty(self, x: float, y: float) -> None:
        """Blend the latents of the nearest points, weighted by inverse distance."""
        if self.source is None or not len(self.layout()):
            return
        idx, dist = nearest_points(self.layout(), (x, y), k=BLEND_NEIGHBOURS)
        weights = blend_weights(dist)
        latent = (weights[:, None] * self.source.latents[idx].astype(np.float64)).sum(0).astype(np.float32)
        self._select(latent, f"blend of {len(idx)} nearest points", (x, y))

    def set_selection_as(self, which: str) -> None:
        face = self.preview.face()
        if self._selection is None or face is None:
            return
        latent, label, xy = self._selection
        self._map_ends[which] = (latent.copy(), xy)
        self.session.set_endpoint(which, latent, face, label)

    def cancel(self) -> None:
        for key in ("build", "project", "colours"):
            self.jobs.cancel(key)  # results of the running tasks are now stale
        self._busy(False, "Cancelled")

    def export_png(self, path: str | os.PathLike) -> Path:
        """What the map shows (the plot as on screen) as a PNG."""
        return save_image(qimage_to_array(self.view.grab().toImage()), path, recipe=self._map_recipe())

    def _map_recipe(self) -> dict | None:
        """How the shown map was made (model, method and parameters, what was mapped), for its files."""
        if self.source is None or self._model is None:
            return None
        params = ProjectionParams(method=METHODS[self.method_box.currentText()], perplexity=self.perplexity_box.value(),
                                  n_neighbors=self.neighbors_box.value(), min_dist=self.min_dist_box.value())
        return map_recipe(self._model, params, self.source.description, len(self.source.latents))

    def export_face_map(self, path: str | os.PathLike) -> Task | None:
        """The classic image map (faces on a grid at their positions), written in a worker."""
        if self.source is None:
            return None
        layout, faces, recipe = self.layout().copy(), self.source.faces, self._map_recipe()
        return self.jobs.submit(f"save {path}",
                                lambda _ctx: render_map_png(layout, faces, os.fspath(path), recipe=recipe),
                                on_error=lambda m: self.session.report_error("Export map", m))

    def shutdown(self) -> None:
        self.cancel()
        self.jobs.cancel("preview")
        self.jobs.shutdown(cancel=False)  # exports finish

    def closeEvent(self, event) -> None:  # noqa: ANN001 - QCloseEvent
        self.shutdown()
        super().closeEvent(event)

    # ----------------------------------------------------------- computing
    def _busy(self, busy: bool, text: str = "") -> None:
        self.compute_button.setEnabled(not busy and self._model is not None)
        self.cancel_button.setEnabled(busy)
        if text:
            self.status.setText(text)

    def _start(self) -> None:
        model = self._model
        if model is None:
            return
        self.cancel()
        data = "prior"
        if self.source_box.currentIndex() == 1:
            if not model.has_encoder:
                self.session.report_error("Latent map", f"A {model.family} model has no encoder; "
                                          "map its samples instead.")
                return
            if not self._folder:
                self._ask_folder()
                if not self._folder:
                    return
            data = self._folder
        self._final = False
        self.progress.setRange(0, 0)  # sampling reports no steps: a busy bar
        self._busy(True, "Sampling faces..." if data == "prior" else "Encoding faces...")
        n = self.n_box.value()
        self.jobs.submit("build", lambda ctx: _build(model, data, n, ctx.progress, ctx.cancel),
                         on_result=self._on_source, on_progress=self._on_progress, on_error=self._on_error)

    def _on_source(self, result: tuple[MapSource, np.ndarray]) -> None:
        self.source, first = result
        self._colour_values.clear()
        self._selection = None
        self._map_ends.clear()
        self.view.set_points(self.source.faces, self.source.labels)
        self.view.set_layout(first)  # the instant PCA map while the chosen method runs
        self._apply_colours()
        method = METHODS[self.method_box.currentText()]
        params = ProjectionParams(method=method, perplexity=self.perplexity_box.value(),
                                  n_neighbors=self.neighbors_box.value(), min_dist=self.min_dist_box.value())
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status.setText(f"{self.source.description}: computing {self.method_box.currentText()}...")
        self.intermediate_layouts = 0
        features, cache_key = self.source.features, self.source.cache_key
        self.jobs.submit("project", lambda ctx: _project(features, params, cache_key, ctx.progress, ctx.cancel),
                         on_result=self._on_layout, on_progress=self._on_progress, on_error=self._on_error)

    def _on_progress(self, value: tuple) -> None:
        if value[0] == "build":
            return
        _, fraction, layout = value
        self.progress.setValue(round(100 * fraction))
        source = self.source
        if layout is not None and fraction < 1.0 and source is not None and len(layout) == len(source.latents):
            self.intermediate_layouts += 1
            self.view.set_layout(layout, fit=True)
            self.layout_updated.emit()

    def _on_layout(self, layout: np.ndarray) -> None:
        self.view.set_layout(layout)
        if self.intermediate_layouts:  # intermediate frames zoomed in on their bulk: show the whole map
            self.view.getViewBox().setRange(QRectF(-1.05, -1.05, 2.1, 2.1), padding=0)
        self._final = True
        self.progress.setValue(100)
        self._busy(False, f"{self.source.description}, {self.method_box.currentText()}. "
                          "Hover to peek, click a point, zoom in for faces.")
        self._update_path()
        self.layout_updated.emit()
        self.map_ready.emit()

    def _on_error(self, message: str) -> None:
        self.progress.setRange(0, 100)
        self._busy(False, "Failed")
        self.session.report_error("Latent map", message)

    # -------------------------------------------------------------- colours
    def _apply_colours(self) -> None:
        mode = self.colour_box.currentIndex()
        source = self.source
        if source is None or mode == 0:
            self.view.set_colours(None)
            self.colours_ready.emit()
            return
        key = "cluster" if mode == 1 else "hue"
        values = self._colour_values.get(key)
        if values is None:
            fn, arg = (kmeans_labels, source.features) if key == "cluster" else (dominant_hue, source.faces)

            def done(result: np.ndarray) -> None:
                self._colour_values[key] = result
                self._apply_colours()

            self.jobs.submit("colours", lambda _ctx: fn(arg), on_result=done,
                             on_error=lambda m: self.session.report_error("Colouring", m))
            return
        if key == "cluster":
            palette = [QBrush(QColor(c)) for c in CLUSTER_COLOURS]
            ids = np.asarray(values, np.intp) % len(palette)
        else:
            palette, ids = _hue_palette(values)
        self.view.set_colours(palette, ids)
        self.colours_ready.emit()

    def colour_values(self) -> np.ndarray | None:
        key = {1: "cluster", 2: "hue"}.get(self.colour_box.currentIndex())
        return self._colour_values.get(key) if key else None

    # -------------------------------------------------------------- preview
    def _select(self, latent: np.ndarray, label: str, xy: tuple[float, float]) -> None:
        model = self._model
        if model is None:
            return
        latent = np.asarray(latent, np.float32)
        self._selection = (latent, label, xy)
        self.view.set_marker(xy)
        self.preview_caption.setText(label)
        self._sync_controls()
        self.jobs.submit("preview", lambda _ctx: (latent, model.decode(latent)[0]), on_result=self._on_preview,
                         on_error=lambda m: self.session.report_error("Latent map", m), show_superseded=True)

    def _on_preview(self, result: tuple[np.ndarray, np.ndarray]) -> None:
        latent, face = result
        self.preview.set_face(face)
        self.session.set_current_latent(latent)
        self.preview_rendered.emit()

    def _update_path(self) -> None:
        ends = []
        for which, end in (("A", self.session.endpoint_a), ("B", self.session.endpoint_b)):
            mine = self._map_ends.get(which)
            ok = end is not None and mine is not None and np.array_equal(end.latent, mine[0])
            ends.append(mine[1] if ok else None)
        self.view.set_path(*ends)

    # ---------------------------------------------------------------- model
    def _on_model_changed(self, model: FaceModel | None) -> None:
        self.cancel()
        self.jobs.cancel("preview")  # the old model's faces are never shown
        self._model = model
        self.source = None
        self._selection = None
        self._map_ends.clear()
        self.view.set_points(None, [])
        self.view.set_layout(np.zeros((0, 2), np.float32))
        self.preview.set_face(None)
        self.preview.setText("Click a point\n(or empty space to blend)")
        self.preview_caption.setText("")
        self.progress.setValue(0)
        self._busy(False, "Press Compute map." if model is not None else "Load a model first.")
        folder_ok = model is not None and model.has_encoder
        self.source_box.model().item(1).setEnabled(folder_ok)
        if not folder_ok:
            self.source_box.setCurrentIndex(0)
        self._sync_controls()

    # --------------------------------------------------------------- dialogs
    def _ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of faces to map")
        if path:
            self.set_folder(path)

    def _ask_export(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export map", "latent_map.png",
                                                   "Map as shown (*.png);;Face map (*.png)")
        if not path:
            return
        if chosen.startswith("Face"):
            self.export_face_map(path)
            return
        try:
            self.export_png(path)
        except Exception as err:  # noqa: BLE001 - any failure is shown to the user
            self.session.report_error("Export PNG", str(err))
