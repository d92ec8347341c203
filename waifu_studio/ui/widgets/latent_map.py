"""Latent map panel: lay out up to a million latent codes in 2-D, hover, click, select, clean a data set.

Flow: ``stream_map_source`` in a task draws the points as they are encoded (a PCA of what is
encoded so far, refreshed as more arrives; a folder already encoded under this model comes from
the code cache at once), then ``project`` with the chosen method in a second task (a child
process, so nothing it does can hold up this window) whose intermediate t-SNE layouts are drawn
as they arrive. Shift-drag selects; the column beside the map acts on the selection
(``map_actions``). What the map shows and what is selected live in ``state.map``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QWidget

from ...core.explore.maps import MapSource, render_map_png
from ...core.explore.projection import ProjectionParams, blend_weights, nearest_points
from ...core.explore.projection.layout import sampling_note
from ...core.explore.reproduce import map_recipe
from ...core.io.export import save_image
from ...core.models import FaceModel
from ...state.map import MapSelection, MapSettings
from ..images import qimage_to_array
from ..session import Session
from ..workers import LatestRenderer, Task, start_task
from .latent_map_parts import (  # noqa: F401 - constants re-exported for callers of this module
    BLEND_NEIGHBOURS,
    CLUSTER_COLOURS,
    COLOUR_MODES,
    COLOURINGS,
    METHODS,
    PREVIEW_PX,
    MapControls,
    _hue_palette,
    _project,
    _stream,
    legend_html,
    scale_palette,
)
from .map_actions import SelectionActions
from .map_colours import MapColours
from .map_selection import SelectionColumn
from .map_view import MapView


class LatentMapPanel(QWidget):
    """A 2-D map of the model's latent space."""

    map_ready = Signal()
    preview_rendered = Signal()
    colours_ready = Signal()
    layout_updated = Signal()  # any layout drawn, partial and intermediate ones included
    partial_drawn = Signal(int)  # points drawn while encoding or sampling still runs

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = MapSettings()
        self.selection = MapSelection()
        self._model: FaceModel | None = None
        self.source: MapSource | None = None
        self._final = False  # the chosen layout is drawn
        self._complete = False  # every point is in (encoding or sampling finished)
        self._note = ""  # what the layout method did differently (sampling), shown with the status
        self._stamp = 0
        self._tasks: list[Task] = []
        self._colour_values: dict[str, np.ndarray] = {}
        self._preview: tuple[np.ndarray, str, tuple[float, float]] | None = None
        self._map_ends: dict[str, tuple[np.ndarray, tuple[float, float]]] = {}
        self.intermediate_layouts = 0
        self.partial_layouts = 0
        self._renderer = LatestRenderer(self)
        self._renderer.result.connect(self._on_preview)
        self._renderer.error.connect(lambda m: session.report_error("Latent map", m))
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
                     "colour_box", "legend", "shape_box", "preview", "preview_caption", "set_a_button",
                     "set_b_button", "export_button"):
            setattr(self, name, getattr(c, name))
        self.column = SelectionColumn(self)
        s = self.settings
        self.source_box.activated.connect(self._on_source_chosen)
        self.source_box.currentIndexChanged.connect(lambda i: setattr(s, "source", ("prior", "folder")[i]))
        self.n_box.valueChanged.connect(lambda v: setattr(s, "n", v))
        self.folder_button.clicked.connect(self._ask_folder)
        self.method_box.currentTextChanged.connect(lambda t: setattr(s, "method", METHODS[t]))
        self.perplexity_box.valueChanged.connect(lambda v: setattr(s, "perplexity", v))
        self.neighbors_box.valueChanged.connect(lambda v: setattr(s, "n_neighbors", v))
        self.min_dist_box.valueChanged.connect(lambda v: setattr(s, "min_dist", v))
        self.colour_box.currentTextChanged.connect(lambda t: setattr(s, "colour", COLOURINGS[t]))
        self.shape_box.currentTextChanged.connect(lambda t: setattr(s, "select_shape", t.lower()))
        s.events.source.connect(lambda v: self.source_box.setCurrentIndex(("prior", "folder").index(v)))
        s.events.folder.connect(self.controls.show_folder)
        s.events.method.connect(lambda v: self.method_box.setCurrentText({m: k for k, m in METHODS.items()}[v]))
        s.events.method.connect(self._sync_controls)
        s.events.source.connect(self._sync_controls)
        s.events.colour.connect(lambda v: self.colour_box.setCurrentText({m: k for k, m in COLOURINGS.items()}[v]))
        s.events.colour.connect(self._apply_colours)
        s.events.select_shape.connect(self.view.set_select_shape)
        self.compute_button.clicked.connect(lambda: self._start())
        self.cancel_button.clicked.connect(self.cancel)
        # Drag the previewed face onto a morph endpoint (the Morph tab's wells accept latents).
        self.preview.drag_payload = lambda: self._preview[:2] if self._preview is not None else None
        self.set_a_button.clicked.connect(lambda: self.set_selection_as("A"))
        self.set_b_button.clicked.connect(lambda: self.set_selection_as("B"))
        self.export_button.clicked.connect(self._ask_export)
        self.actions = SelectionActions(self)
        self.colours = MapColours(self)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.column)
        layout.addWidget(c)
        self._sync_controls()

    def _sync_controls(self, *_: object) -> None:
        method = self.settings.method
        self.controls._method_rows.setRowVisible(self.perplexity_box, method == "tsne")
        self.controls._method_rows.setRowVisible(self.neighbors_box, method == "umap")
        self.controls._method_rows.setRowVisible(self.min_dist_box, method == "umap")
        folder = self.settings.source == "folder"
        self.n_box.setEnabled(not folder)
        self.folder_button.setEnabled(folder)
        self.set_a_button.setEnabled(self._preview is not None)
        self.set_b_button.setEnabled(self._preview is not None)

    # --------------------------------------------------------------- public
    def layout(self) -> np.ndarray:  # type: ignore[override]  # the map's layout, not Qt's QLayout
        """The (N, 2) layout currently drawn."""
        return self.view.layout_array()

    def preview_face(self) -> np.ndarray | None:
        return self.preview.face()

    def set_folder(self, path: str | os.PathLike) -> None:
        self.settings.folder = os.fspath(path)
        self.settings.source = "folder"

    def compute(self, source: str = "prior", n: int | None = None, method: str = "pca", **params: float) -> None:
        """Set the map's settings as given and compute (``source`` is 'prior' or a folder path)."""
        if source == "prior":
            self.settings.source = "prior"
        else:
            self.set_folder(source)
        if n is not None:
            self.n_box.setValue(int(n))
        self.settings.method = method
        for key, box in (("perplexity", self.perplexity_box), ("n_neighbors", self.neighbors_box),
                         ("min_dist", self.min_dist_box)):
            if key in params:
                box.setValue(params[key])
        self._start()

    def click_point(self, i: int) -> None:
        """Show point ``i``'s face large."""
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
        latent = (weights[:, None] * np.asarray(self.source.latents[idx], np.float64)).sum(0).astype(np.float32)
        self._select(latent, f"blend of {len(idx)} nearest points", (x, y))

    def set_selection_as(self, which: str) -> None:
        face = self.preview.face()
        if self._preview is None or face is None:
            return
        latent, label, xy = self._preview
        self._map_ends[which] = (latent.copy(), xy)
        self.session.set_endpoint(which, latent, face, label)

    def cancel(self) -> None:
        self._stamp += 1  # results of the running tasks are now stale
        for task in self._tasks:
            task.cancel()
        self._busy(False, "Cancelled")

    def export_png(self, path: str | os.PathLike) -> Path:
        """What the map shows (the plot as on screen) as a PNG."""
        return save_image(qimage_to_array(self.view.grab().toImage()), path, recipe=self._map_recipe())

    def _map_recipe(self) -> dict | None:
        """How the shown map was made (model, method and parameters, what was mapped), for its files."""
        if self.source is None or self._model is None:
            return None
        s = self.settings
        params = ProjectionParams(method=s.method, perplexity=s.perplexity, n_neighbors=s.n_neighbors,
                                  min_dist=s.min_dist)
        return map_recipe(self._model, params, self.source.description, len(self.source.latents))

    def export_face_map(self, path: str | os.PathLike) -> Task | None:
        """The classic image map (faces on a grid at their positions), written in a worker."""
        if self.source is None:
            return None
        return self._run(render_map_png, self.layout().copy(), self.source.faces, os.fspath(path),
                         recipe=self._map_recipe(),
                         on_error=lambda m: self.session.report_error("Export map", m))

    def shutdown(self) -> None:
        self.cancel()
        for task in self._tasks:
            task.wait(10000)
        self._tasks.clear()
        self._renderer.shutdown()

    def closeEvent(self, event) -> None:  # noqa: ANN001 - QCloseEvent
        self.shutdown()
        super().closeEvent(event)

    # ----------------------------------------------------------- computing
    def _run(self, fn, *args, **kwargs) -> Task:  # noqa: ANN001 - start_task's arguments
        self._tasks = [t for t in self._tasks if t.is_running()]
        task = start_task(fn, *args, owner=self, **kwargs)
        self._tasks.append(task)
        return task

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
        if self.settings.source == "folder":
            if not model.has_encoder:
                self.session.report_error("Latent map", f"A {model.family} model has no encoder; "
                                          "map its samples instead.")
                return
            if not self.settings.folder:
                self._ask_folder()
                if not self.settings.folder:
                    return
            data = self.settings.folder
        stamp = self._stamp
        self._final = self._complete = False
        self.partial_layouts = self.intermediate_layouts = 0
        self.selection.clear(groups=True)
        self.progress.setRange(0, 0)  # until the first count arrives: a busy bar
        self._busy(True, "Sampling faces..." if data == "prior" else "Reading the folder...")
        self._run(_stream, model, data, self.settings.n,
                  on_result=lambda r: self._on_source(stamp, model, r),
                  on_progress=lambda p: self._on_progress(stamp, p),
                  on_error=lambda m: self._on_error(stamp, m))

    def _show_source(self, source: MapSource, layout: np.ndarray, first: bool) -> None:
        self.source = source
        self.view.set_points(source.faces, source.labels, keep_view=not first)
        self.view.set_layout(layout)
        self.layout_updated.emit()

    def _on_progress(self, stamp: int, value: tuple) -> None:
        if stamp != self._stamp:
            return
        if value[0] == "build":
            step = value[1]
            if step.stage == "done":
                return  # drawn by _on_source
            self.status.setText(step.text() + ("" if step.source is None else "; the map grows as it goes"))
            if step.total:
                self.progress.setRange(0, step.total)
                self.progress.setValue(step.done)
            if step.layout is not None and step.source is not None:
                self._show_source(step.source, step.layout, first=self.partial_layouts == 0)
                self.partial_layouts += 1
                self.partial_drawn.emit(len(step.source.latents))
            return
        _, fraction, layout = value
        self.progress.setValue(round(100 * fraction))
        source = self.source
        if layout is not None and fraction < 1.0 and source is not None and len(layout) == len(source.latents):
            self.intermediate_layouts += 1
            self.view.set_layout(layout, fit=True)
            self.layout_updated.emit()

    def _on_source(self, stamp: int, model: FaceModel, result: tuple[MapSource, np.ndarray]) -> None:
        if stamp != self._stamp or model is not self._model:
            return
        source, first = result
        self._complete = True
        self._colour_values.clear()
        self._preview = None
        self._map_ends.clear()
        self.selection.clear()
        self._show_source(source, first, first=self.partial_layouts == 0)
        self._apply_colours()
        s = self.settings
        params = ProjectionParams(method=s.method, perplexity=s.perplexity, n_neighbors=s.n_neighbors,
                                  min_dist=s.min_dist)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        note = sampling_note(len(source.latents), params)
        self._note = f" {note}" if note else ""
        self.status.setText(f"{source.description}: computing {self.method_box.currentText()}...{self._note}")
        self._run(_project, source.features, params, source.cache_key,
                  on_result=lambda r: self._on_layout(stamp, *r),
                  on_progress=lambda p: self._on_progress(stamp, p),
                  on_error=lambda m: self._on_error(stamp, m))

    def _on_layout(self, stamp: int, layout: np.ndarray, index) -> None:  # noqa: ANN001 - GridIndex
        if stamp != self._stamp:
            return
        self.view.set_layout(layout, index=index)
        if self.intermediate_layouts:  # intermediate frames zoomed in on their bulk: show the whole map
            self.view.getViewBox().setRange(QRectF(-1.05, -1.05, 2.1, 2.1), padding=0)
        self._final = True
        self.progress.setValue(100)
        self._busy(False, f"{self.source.description}, {self.method_box.currentText()}.{self._note} "
                          "Hover to peek, click a point, zoom in for faces, shift-drag to select.")
        self._update_path()
        self.layout_updated.emit()
        self.map_ready.emit()

    def _on_error(self, stamp: int, message: str) -> None:
        if stamp != self._stamp:
            return
        self.progress.setRange(0, 100)
        self._busy(False, "Failed")
        self.session.report_error("Latent map", message)

    # -------------------------------------------------------------- colours
    def _apply_colours(self, *_: object) -> None:
        self.colours.apply()

    def colour_values(self) -> np.ndarray | None:
        """The per-point values the map is coloured by now (None when uncoloured or not computed yet)."""
        return self.colours.values()

    # -------------------------------------------------------------- preview
    def _select(self, latent: np.ndarray, label: str, xy: tuple[float, float]) -> None:
        model = self._model
        if model is None:
            return
        latent = np.asarray(latent, np.float32)
        self._preview = (latent, label, xy)
        self.view.set_marker(xy)
        self.preview_caption.setText(label)
        self._sync_controls()
        self._renderer.request(lambda: (model, latent, model.decode(latent)[0]))

    def _on_preview(self, result: tuple[FaceModel, np.ndarray, np.ndarray]) -> None:
        model, latent, face = result
        if model is not self._model:
            return
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
        self._model = model
        self._complete = self._final = False
        self.source = None
        self._preview = None
        self._map_ends.clear()
        self.selection.clear(groups=True)
        self.view.set_points(None, [])
        self.view.set_layout(np.zeros((0, 2), np.float32))
        self.preview.set_face(None)
        self.preview.setText("Click a point\n(or empty space to blend)")
        self.preview_caption.setText("")
        self.legend.setText("")
        self.progress.setValue(0)
        self._busy(False, "Press Compute map." if model is not None else "Load a model first.")
        folder_ok = model is not None and model.has_encoder
        self.source_box.model().item(1).setEnabled(folder_ok)
        if not folder_ok:
            self.settings.source = "prior"
        self._sync_controls()

    # --------------------------------------------------------------- dialogs
    def _on_source_chosen(self, index: int) -> None:
        """Choosing "Dataset folder..." asks for the folder; cancelling goes back to the samples."""
        if index == 1:
            self._ask_folder()
            if not self.settings.folder:
                self.settings.source = "prior"

    def _ask_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of faces to map", self.settings.folder)
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
