"""Compare: two models or snapshots side by side on one seed box, one morph slider and one offset.

Draws a :class:`CompareState`; each side renders on its own latest-request-wins thread, so the
two grids move in step with every change of the shared controls. The morph ends (seeds or image
files, each side finding its own latent for an image) live in :mod:`.compare_endpoints`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.explore.compare import SideFrame, compare_recipe, render_side
from ...core.io.known_checkpoints import open_checkpoint
from ...core.models.seeds import MAX_SEED
from ...state.compare import SIDES, CompareState
from ..dialogs import ask_open_path
from ..session import Session, bundled_checkpoints
from ..workers import Jobs, Task
from .compare_endpoints import CompareEndpoints
from .face_grid import FaceGrid
from .recipe_actions import save_recipe

SLIDER_MAX = 1000
GRID_SIDE = 4


class ComparePanel(QWidget):
    """Two grids in step: same seeds, same morph position, same noise offset; a model picker per side."""

    rendered = Signal(str)  # the side ("A" or "B") whose faces were drawn

    def __init__(self, session: Session, state: CompareState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.state = state or CompareState()
        self.shown: dict[str, SideFrame | None] = {side: None for side in SIDES}
        self.jobs = Jobs(self)
        self.endpoints = CompareEndpoints(self, session, self.state, self.jobs)
        self.endpoints.ready.connect(self._request)
        self._build()
        self.state.changed.connect(self._on_changed)
        session.models_listed.connect(self._fill_pickers)
        self._fill_pickers()

    def _build(self) -> None:
        self.pickers: dict[str, QComboBox] = {}
        self.grids: dict[str, FaceGrid] = {}
        self.morph_faces: dict[str, FaceGrid] = {}
        self.titles: dict[str, QLabel] = {}
        sides = QGridLayout()
        for column, side in enumerate(SIDES):
            picker = QComboBox()
            picker.setMinimumWidth(220)
            picker.activated.connect(lambda _i, s=side: self._on_picked(s))
            open_button = QPushButton("Open...")
            open_button.setToolTip("Open any checkpoint or timeline snapshot for this side")
            open_button.clicked.connect(lambda _c=False, s=side: self._ask_open(s))
            head = QHBoxLayout()
            head.addWidget(QLabel(f"Model {side}"))
            head.addWidget(picker, 1)
            head.addWidget(open_button)
            self.titles[side] = QLabel("-")
            self.titles[side].setEnabled(False)
            self.grids[side] = FaceGrid(min_tile=36)
            self.grids[side].placeholder = f"Choose model {side} above"
            self.morph_faces[side] = FaceGrid(min_tile=96, max_tile=160)
            self.morph_faces[side].placeholder = ""
            self.morph_faces[side].setFixedHeight(170)
            self.pickers[side] = picker
            sides.addLayout(head, 0, column)
            sides.addWidget(self.titles[side], 1, column)
            sides.addWidget(self.grids[side], 2, column)
            sides.addWidget(self.morph_faces[side], 3, column)
            sides.addWidget(self.endpoints.progress[side], 4, column)
        sides.setRowStretch(2, 1)

        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED - GRID_SIDE * GRID_SIDE)
        self.seed_box.setToolTip("First seed of both grids")
        self.seed_box.valueChanged.connect(lambda v: self.state.set_view(seed=v))
        self.morph_a, self.morph_b = self.endpoints.seed_boxes["A"], self.endpoints.seed_boxes["B"]
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_MAX)
        self.slider.setValue(SLIDER_MAX // 2)
        self.slider.setToolTip("Position between morph ends A and B, the same for both models")
        self.slider.valueChanged.connect(lambda v: self.state.set_view(t=v / SLIDER_MAX))
        self.dim_box = QSpinBox()
        self.dim_box.setRange(0, 4095)
        offset_note = ("It moves the grids' seeds and the morph's seed ends; an image end is each model's own "
                       "latent of the image and does not move.")
        self.dim_box.setToolTip("Noise dimension the offset moves (the same for both models). " + offset_note)
        self.offset_box = QDoubleSpinBox()
        self.offset_box.setRange(-3.0, 3.0)
        self.offset_box.setSingleStep(0.25)
        self.offset_box.setToolTip("Offset along that dimension, in standard deviations of the noise. " + offset_note)
        self.dim_box.valueChanged.connect(self._on_offset)
        self.offset_box.valueChanged.connect(self._on_offset)
        self.save_button = QPushButton("Save PNG...")
        self.save_button.clicked.connect(self._ask_save)
        controls = QHBoxLayout()
        for widget in (QLabel("Seed"), self.seed_box, QLabel("Offset dim"), self.dim_box, self.offset_box):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.save_button)
        morph = QHBoxLayout()
        for widget in (QLabel("Morph A"), *self.endpoints.widgets("A"), self.slider, QLabel("B"),
                       *self.endpoints.widgets("B")):
            morph.addWidget(widget, 1 if widget is self.slider else 0)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(morph)
        layout.addLayout(sides, 1)

    # ------------------------------------------------------------------ models
    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override
        """The first time the tab is shown, side A starts as the model loaded in the app."""
        super().showEvent(event)
        model, path = self.session.model, self.session.model_path
        if self.state.models["A"] is None and self.state.models["B"] is None and model is not None:
            self.state.set_model("A", model, path)

    def _fill_pickers(self) -> None:
        paths = [*bundled_checkpoints(), *[p for p in self.session.recent_files() if p not in bundled_checkpoints()]]
        for side, picker in self.pickers.items():
            current = self.state.paths[side]
            picker.blockSignals(True)
            picker.clear()
            picker.addItem("(choose a model)", None)
            for path in paths:
                picker.addItem(path.name, str(path))
                picker.setItemData(picker.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
            if current is not None:
                index = picker.findData(str(current))
                if index < 0:
                    picker.addItem(current.name, str(current))
                    index = picker.count() - 1
                picker.setCurrentIndex(index)
            picker.blockSignals(False)

    def _on_picked(self, side: str) -> None:
        data = self.pickers[side].currentData()
        if data:
            self.open_model(side, Path(data))

    def _ask_open(self, side: str) -> None:
        path = ask_open_path(self, self.session.settings, "checkpoint", f"Open model {side}",
                             "Checkpoints (*.safetensors)")
        if path is not None:
            self.open_model(side, path)

    def open_model(self, side: str, path: str | Path) -> Task:
        """Load ``path`` (a checkpoint or a snapshot) in a worker and show it on ``side``."""
        path = Path(path)
        return self.jobs.submit(f"open {side}", lambda _ctx: open_checkpoint(path),
                                on_result=lambda model: self.state.set_model(side, model, path),
                                on_error=lambda msg: self.session.report_error(f"Cannot open model {side}", msg))

    # ------------------------------------------------------------------ drawing
    def _on_offset(self) -> None:
        self.state.set_view(offset=(self.dim_box.value(), self.offset_box.value()))

    def _on_changed(self, what: str) -> None:
        if what in SIDES:
            self._fill_pickers()
            model = self.state.models[what]
            self.titles[what].setText("-" if model is None else
                                      f"{model.family}, latent {model.latent_dim}, {model.resolution}px")
        for side in (SIDES if what == "view" else (what,)):
            self._request(side)

    def _request(self, side: str) -> None:
        model, view = self.state.models[side], self.state.view
        if model is not None:
            self.endpoints.ensure(side)
            ends = self.state.image_latents(side)
            self.jobs.submit(f"render {side}", lambda _ctx: render_side(model, view, ends), show_superseded=True,
                             on_result=lambda frame: self._on_rendered(side, frame),
                             on_error=lambda msg: self.session.report_error("Cannot draw faces", msg))

    def _on_rendered(self, side: str, frame: SideFrame) -> None:
        if frame.model is not self.state.models[side]:
            return  # drawn by the model this side showed before (a superseded render may still arrive)
        self.shown[side] = frame
        view = self.state.view
        self.grids[side].set_faces(frame.grid, ncols=int(math.sqrt(view.count)),
                                   tooltips=[f"seed {s}" for s in view.seeds])
        morph = self.morph_faces[side]
        if frame.morph_face is None:  # an image end's latent is still being found (progress below)
            morph.placeholder = f"Model {side} is finding the image end..."
            morph.set_faces(np.zeros((0, 1, 1, 3), np.uint8), ncols=1)
        else:
            morph.set_faces(frame.morph_face[None], ncols=1,
                            tooltips=[f"{view.end_label(0)} to {view.end_label(1)}, t = {view.t:.2f}"])
        self.rendered.emit(side)

    # ------------------------------------------------------------------ export
    def export_png(self, path: str | Path) -> Task | None:
        """Both grids as one PNG (A's rows, then B's), rendered from its recipe."""
        a, b = self.state.models["A"], self.state.models["B"]
        if a is None or b is None:
            self.session.report_error("Nothing to save", "Choose both models first.")
            return None
        recipe = compare_recipe(a, b, self.state.view, int(math.sqrt(self.state.view.count)),
                                [self.state.image_latents(side) for side in SIDES])
        return save_recipe(self.jobs, self.session, recipe, [a, b], path)

    def _ask_save(self) -> None:
        from ..dialogs import ask_png_path

        path = ask_png_path(self, self.session.settings, "Save comparison as PNG", "compare.png")
        if path is not None:
            self.export_png(path)

    def shutdown(self) -> None:
        self.endpoints.cancel_all()
        for side in SIDES:
            self.jobs.cancel(f"render {side}")
            self.jobs.cancel(f"open {side}")
        self.jobs.shutdown(cancel=False)  # saves finish

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)
