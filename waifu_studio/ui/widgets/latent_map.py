"""Latent map panel: lay out up to a million latent codes in 2-D, hover, click, select, clean a data set.

Flow: ``stream_map_source`` in the "build" job draws the points as they are encoded (a PCA of
what is encoded so far, refreshed as more arrives; a folder already encoded under this model
comes from the code cache at once), then ``project`` with the chosen method in the "project" job
(a child process, so nothing it does can hold up this window) whose intermediate t-SNE layouts
are drawn as they arrive. Every layout comes with its grid index, built in the job. All work runs
through ``self.jobs`` (``ui.workers.Jobs``), which drops results of superseded requests.
Shift-drag selects; the column beside the map acts on the selection (``map_actions``). What the
map shows and what is selected live in ``state.map``.
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
from ...core.explore.spatial import GridIndex
from ...core.io.export import save_image
from ...core.models import FaceModel
from ...state.map import MapSelection, MapSettings
from ..dialogs import ask_folder, last_dir, remember_dir
from ..images import qimage_to_array
from ..session import Session
from ..workers import Jobs, Task
from .latent_map_parts import BLEND_NEIGHBOURS, MapControls, _project, _stream
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
        self.jobs = Jobs(self)
        self._colour_values: dict[str, np.ndarray] = {}
        self._preview: tuple[np.ndarray, str, tuple[float, float]] | None = None
        self._map_ends: dict[str, tuple[np.ndarray, tuple[float, float]]] = {}
        self.intermediate_layouts = 0
        self.partial_layouts = 0
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
        self.controls.bind(self.settings)
        self.source_box.activated.connect(self._on_source_chosen)
        self.folder_button.clicked.connect(self._ask_folder)
        self.settings.events.method.connect(self._sync_controls)
        self.settings.events.source.connect(self._sync_controls)
        self.settings.events.colour.connect(self._apply_colours)
        self.settings.events.select_shape.connect(self.view.set_select_shape)
        self.compute_button.clicked.connect(lambda: self._start())
        self.cancel_button.clicked.connect(self.cancel)
        # Drag the previewed face onto a morph endpoint (the Morph tab's wells accept latents).
        self.preview.drag_payload = lambda: (None if self._preview is None else
                                             (*self._preview[:2], self.session.model_key))
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
        self.controls.sync(self.settings)
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
        self.session.set_endpoint(which, latent, face, label, kind="map")

    def cancel(self) -> None:
        """Stop building, laying out and colouring this map (their results are dropped)."""
        for key in ("build", "project", "exclusions"):
            self.jobs.cancel(key)
        self.colours.cancel()
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
        layout, faces, recipe = self.layout().copy(), self.source.faces, self._map_recipe()
        return self.jobs.submit(f"save {path}",
                                lambda _ctx: render_map_png(layout, faces, os.fspath(path), recipe=recipe),
                                on_error=lambda m: self.session.report_error("Export map", m))

    def shutdown(self) -> None:
        self.cancel()
        for key in ("preview", "mean A", "mean B"):
            self.jobs.cancel(key)
        self.jobs.shutdown(cancel=False)  # exports and saves finish

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
        self._final = self._complete = False
        self.partial_layouts = self.intermediate_layouts = 0
        self.selection.clear(groups=True)
        self.actions.load_exclusions()  # none shown until the map is complete
        self.progress.setRange(0, 0)  # until the first count arrives: a busy bar
        self._busy(True, "Sampling faces..." if data == "prior" else "Reading the folder...")
        n = self.settings.n
        self.jobs.submit("build", lambda ctx: _stream(model, data, n, ctx.progress, ctx.cancel),
                         on_result=self._on_source, on_progress=self._on_progress, on_error=self._on_error)

    def _show_source(self, source: MapSource, index: GridIndex, first: bool) -> None:
        self.source = source
        self.view.set_points(source.faces, source.labels, keep_view=not first)
        self.view.set_layout(index.xy, index=index)
        self.layout_updated.emit()

    def _on_progress(self, value: tuple) -> None:
        if value[0] == "build":
            _, step, index = value
            if step.stage == "done":
                return  # drawn by _on_source
            self.status.setText(step.text() + ("" if step.source is None else "; the map grows as it goes"))
            if step.total:
                self.progress.setRange(0, step.total)
                self.progress.setValue(step.done)
            if index is not None:
                self._show_source(step.source, index, first=self.partial_layouts == 0)
                self.partial_layouts += 1
                self.partial_drawn.emit(len(step.source.latents))
            return
        _, fraction, layout, index = value
        self.progress.setValue(round(100 * fraction))
        source = self.source
        if index is not None and source is not None and len(layout) == len(source.latents):
            self.intermediate_layouts += 1
            self.view.set_layout(layout, fit=True, index=index)
            self.layout_updated.emit()

    def _on_source(self, result: tuple[MapSource, GridIndex]) -> None:
        source, index = result
        self._complete = True
        self._colour_values.clear()
        self._preview = None
        self._map_ends.clear()
        self.selection.clear()
        self._show_source(source, index, first=self.partial_layouts == 0)
        self._apply_colours()
        self.actions.load_exclusions()
        s = self.settings
        params = ProjectionParams(method=s.method, perplexity=s.perplexity, n_neighbors=s.n_neighbors,
                                  min_dist=s.min_dist)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        note = sampling_note(len(source.latents), params)
        self._note = f" {note}" if note else ""
        self.status.setText(f"{source.description}: computing {self.method_box.currentText()}...{self._note}")
        features, cache_key = source.features, source.cache_key
        self.jobs.submit("project", lambda ctx: _project(features, params, cache_key, ctx.progress, ctx.cancel),
                         on_result=self._on_layout, on_progress=self._on_progress, on_error=self._on_error)

    def _on_layout(self, result: tuple[np.ndarray, GridIndex]) -> None:
        layout, index = result
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

    def _on_error(self, message: str) -> None:
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
        # Latest wins: while the user clicks around, only the newest face is decoded next.
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
        for key in ("preview", "mean A", "mean B"):  # the old model's faces are never shown or used
            self.jobs.cancel(key)
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
        self.actions.load_exclusions()
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
        path = ask_folder(self, self.session.settings, "dataset", "Folder of faces to map")
        if path is not None:
            self.set_folder(path)

    def _ask_export(self) -> None:
        settings = self.session.settings
        start = str(last_dir(settings, "export") / "latent_map.png")
        path, chosen = QFileDialog.getSaveFileName(self, "Export map", start, "Map as shown (*.png);;Face map (*.png)")
        if not path:
            return
        remember_dir(settings, "export", path)
        if chosen.startswith("Face"):
            self.export_face_map(path)
            return
        try:
            self.export_png(path)
        except Exception as err:  # noqa: BLE001 - any failure is shown to the user
            self.session.report_error("Export PNG", str(err))
