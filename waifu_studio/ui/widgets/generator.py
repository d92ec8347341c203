"""Generate: faces for seeds S..S+N-1, live as the seed, grid size or truncation changes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import WaifuError
from ...core.explore.reproduce import image_recipe, layout_part, model_ref, seeds_part
from ...core.models.seeds import MAX_SEED
from ..session import Session
from ..workers import LatestRenderer, Task
from .face_grid import FaceGrid, latent_mime
from .recipe_actions import copy_command, save_recipe

GRID_SIZES = tuple(range(1, 9))  # 1x1 .. 8x8


@dataclass
class GeneratedFaces:
    """One render: what the grid shows and where each face came from."""

    seeds: list[int]
    truncation: float
    latents: np.ndarray
    faces: np.ndarray
    model: object


def _render(model, seeds: list[int], truncation: float) -> GeneratedFaces:
    latents = model.seeds_to_latents(seeds, truncation)
    return GeneratedFaces(seeds, truncation, latents, model.decode(latents), model)


def export_dir(settings: QSettings) -> str:
    return str(settings.value("export_dir", str(Path.home())))


def ask_png_path(parent: QWidget, settings: QSettings, title: str, name: str) -> Path | None:
    """Save dialog for a PNG that remembers its folder in the ``export_dir`` setting."""
    path, _ = QFileDialog.getSaveFileName(parent, title, str(Path(export_dir(settings)) / name), "PNG images (*.png)")
    if not path:
        return None
    out = Path(path)
    if out.suffix.lower() != ".png":
        out = out.with_suffix(".png")
    settings.setValue("export_dir", str(out.parent))
    return out


class GeneratorPanel(QWidget):
    """Seed, grid size and truncation controls over a big grid of faces."""

    rendered = Signal()  # the displayed faces changed
    edit_requested = Signal()  # "Edit in Directions": the main window switches tabs
    nearest_requested = Signal(object)  # "Nearest training faces" of this face (H, W, 3 uint8)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._shown: GeneratedFaces | None = None
        self._tasks: list[Task] = []
        self.renderer = LatestRenderer(self)
        self.renderer.result.connect(self._on_rendered)
        self.renderer.error.connect(lambda msg: session.report_error("Cannot draw faces", msg))

        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.seed_box.setAccelerated(True)
        self.seed_box.setMinimumWidth(130)
        self.seed_box.setToolTip("Seed of the first face: type, use the arrow keys or scroll the mouse wheel")
        self.randomize_button = QPushButton("Randomize")
        self.randomize_button.setToolTip("Jump to a random seed (R)")
        self.randomize_button.setShortcut("R")
        self.grid_box = QComboBox()
        for n in GRID_SIZES:
            self.grid_box.addItem(f"{n} x {n}", n)
        self.grid_box.setCurrentIndex(GRID_SIZES.index(4))
        self.grid_box.setToolTip("Faces shown: seeds S .. S+N-1")
        self.truncation_slider = QSlider(Qt.Orientation.Horizontal)
        self.truncation_slider.setRange(0, 150)
        self.truncation_slider.setValue(100)
        self.truncation_slider.setFixedWidth(160)
        self.truncation_slider.setToolTip("Truncation: below 1 pulls faces toward the average (cleaner, less varied)")
        self.truncation_label = QLabel("1.00")
        self.truncation_label.setMinimumWidth(34)
        self.labels_check = QCheckBox("Seed labels")
        self.labels_check.setToolTip("Print each face's seed under it in saved grids")
        self.save_button = QPushButton("Save grid...")
        self.command_button = QPushButton("Copy as command")
        self.command_button.setToolTip("Copy the waifu-studio command line that writes this grid")

        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(QLabel("Seed"))
        controls.addWidget(self.seed_box)
        controls.addWidget(self.randomize_button)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Grid"))
        controls.addWidget(self.grid_box)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Truncation"))
        controls.addWidget(self.truncation_slider)
        controls.addWidget(self.truncation_label)
        controls.addStretch(1)
        controls.addWidget(self.labels_check)
        controls.addWidget(self.save_button)
        controls.addWidget(self.command_button)

        self.grid = FaceGrid()
        self.hint = QLabel("Click a face: morph A  \u00b7  Shift-click: morph B  \u00b7  "
                           "Right-click: more  \u00b7  Drag a face onto the Morph tab")
        self.hint.setEnabled(False)  # drawn in the muted text colour
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.hint, 0, Qt.AlignmentFlag.AlignHCenter)

        self.seed_box.valueChanged.connect(self.refresh)
        self.grid_box.currentIndexChanged.connect(self._on_grid_changed)
        self.truncation_slider.valueChanged.connect(self._on_truncation_changed)
        self.randomize_button.clicked.connect(self.randomize)
        self.save_button.clicked.connect(self._ask_save_grid)
        self.command_button.clicked.connect(self.copy_grid_command)
        self.grid.clicked.connect(self._on_clicked)
        self.grid.context_requested.connect(self._show_menu)
        self.grid.drag_requested.connect(self._start_drag)
        session.model_changed.connect(lambda _model: self.refresh())
        self.refresh()

    # --------------------------------------------------------------- settings
    def grid_side(self) -> int:
        return int(self.grid_box.currentData())

    def truncation(self) -> float:
        return self.truncation_slider.value() / 100.0

    def requested_seeds(self) -> list[int]:
        start, n = self.seed_box.value(), self.grid_side() ** 2
        return list(range(start, start + n))

    def randomize(self) -> None:
        self.seed_box.setValue(random.randint(0, self.seed_box.maximum()))

    def _on_grid_changed(self) -> None:
        # Seeds S..S+N-1 must all be valid seeds.
        self.seed_box.setMaximum(MAX_SEED - (self.grid_side() ** 2 - 1))
        self.refresh()

    def _on_truncation_changed(self, value: int) -> None:
        self.truncation_label.setText(f"{value / 100:.2f}")
        self.refresh()

    # -------------------------------------------------------------- rendering
    def refresh(self) -> None:
        """Ask for the faces the controls describe; only the newest request is decoded."""
        model = self.session.model
        if model is None:
            self._shown = None
            self.grid.set_faces(np.zeros((0, 1, 1, 3), np.uint8))
            return
        seeds, truncation = self.requested_seeds(), self.truncation()
        self.renderer.request(lambda: _render(model, seeds, truncation))

    def _on_rendered(self, result: GeneratedFaces) -> None:
        if result.model is not self.session.model:
            return  # decoded by a model that is no longer current
        self._shown = result
        tips = [f"seed {s}" + (f"  (truncation {result.truncation:.2f})" if result.truncation != 1.0 else "")
                for s in result.seeds]
        self.grid.set_faces(result.faces, ncols=self.grid_side_of(len(result.seeds)), tooltips=tips)
        self.rendered.emit()

    @staticmethod
    def grid_side_of(n: int) -> int:
        return max(1, int(round(n ** 0.5)))

    def current_faces(self) -> np.ndarray:
        """Exactly the faces on screen, (N, H, W, 3) uint8."""
        return self.grid.faces()

    def shown_seeds(self) -> list[int]:
        return list(self._shown.seeds) if self._shown else []

    def face_widget(self) -> FaceGrid:
        return self.grid

    def tile_center(self, index: int) -> QPoint:
        """Centre of tile ``index`` in ``face_widget()`` coordinates (tests click here)."""
        return self.grid.tile_rect(index).center()

    # ---------------------------------------------------------------- actions
    def _face(self, index: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        if self._shown is None or not 0 <= index < len(self._shown.seeds):
            return None
        return self._shown.seeds[index], self._shown.latents[index], self._shown.faces[index]

    def set_endpoint(self, which: str, index: int) -> None:
        item = self._face(index)
        if item is not None:
            seed, latent, face = item
            self.session.set_endpoint(which, latent, face, f"seed {seed}", seed=seed)
            self.grid.set_highlight(index)

    def _on_clicked(self, index: int, modifiers) -> None:
        self.set_endpoint("B" if modifiers & Qt.KeyboardModifier.ShiftModifier else "A", index)

    def _show_menu(self, index: int, global_pos: QPoint) -> None:
        item = self._face(index)
        if item is None:
            return
        seed, latent, face = item
        menu = QMenu(self)
        menu.addAction("Set as morph A", lambda: self.set_endpoint("A", index))
        menu.addAction("Set as morph B", lambda: self.set_endpoint("B", index))
        menu.addSeparator()
        menu.addAction(f"Copy seed ({seed})", lambda: QApplication.clipboard().setText(str(seed)))
        menu.addAction("Save face as PNG...", lambda: self._ask_save_face(index, seed))
        menu.addAction("Copy as command", lambda: self.copy_face_command(index))
        menu.addAction("Nearest training faces", lambda: self.nearest_requested.emit(face.copy()))
        menu.addAction("Edit in Directions", lambda: self.edit_in_directions(index))
        menu.popup(global_pos)

    def edit_in_directions(self, index: int) -> None:
        item = self._face(index)
        if item is not None:
            self.session.set_current_latent(item[1])
            self.edit_requested.emit()

    def _start_drag(self, index: int) -> None:
        item = self._face(index)
        if item is not None:
            seed, latent, face = item
            self.grid.start_drag(latent_mime(latent, f"seed {seed}", face), index)

    # ----------------------------------------------------------------- export
    def grid_recipe(self) -> dict | None:
        """The recipe of the shown grid (seeds, truncation, layout, labels if ticked), or None."""
        if self._shown is None:
            return None
        seeds = self._shown.seeds
        labels = [str(s) for s in seeds] if self.labels_check.isChecked() else None
        return image_recipe([model_ref(self._shown.model)], seeds_part(seeds, self._shown.truncation),
                            layout_part(self.grid_side_of(len(seeds)), labels=labels))

    def face_recipe(self, index: int) -> dict | None:
        """The recipe of one face of the grid, saved on its own (no padding)."""
        item = self._face(index)
        if item is None:
            return None
        return image_recipe([model_ref(self._shown.model)], seeds_part([item[0]], self._shown.truncation),
                            layout_part(1, padding=0))

    def export_png(self, path: str | Path) -> Task | None:
        """Write the shown grid (optionally with seed labels) as a PNG, in a worker thread."""
        recipe = self._recipe_or_report(self.grid_recipe)
        if recipe is None:
            return None
        return self._track(save_recipe(self, self.session, recipe, [self._shown.model], path))

    def copy_grid_command(self) -> str | None:
        recipe = self._recipe_or_report(self.grid_recipe)
        if recipe is None:
            return None
        return copy_command(self.session, recipe, [self.session.model_path], f"seeds_{self._shown.seeds[0]}.png")

    def copy_face_command(self, index: int) -> str | None:
        recipe = self._recipe_or_report(lambda: self.face_recipe(index))
        if recipe is None:
            return None
        return copy_command(self.session, recipe, [self.session.model_path], f"seed_{recipe['faces']['seeds'][0]}.png")

    def _recipe_or_report(self, build) -> dict | None:
        try:
            recipe = build()
        except WaifuError as err:
            self.session.report_error("Cannot describe these faces", str(err))
            return None
        if recipe is None:
            self.session.report_error("Nothing to save", "Load a model first: there are no faces to save.")
        return recipe

    def _track(self, task: Task) -> Task:
        self._tasks = [t for t in self._tasks if t.is_running()] + [task]
        return task

    def _ask_save_grid(self) -> None:
        name = f"seeds_{self.seed_box.value()}.png"
        path = ask_png_path(self, self.session.settings, "Save grid as PNG", name)
        if path is not None:
            self.export_png(path)

    def save_face(self, index: int, path: str | Path) -> Task | None:
        recipe = self._recipe_or_report(lambda: self.face_recipe(index))
        if recipe is None:
            return None
        return self._track(save_recipe(self, self.session, recipe, [self._shown.model], path))

    def _ask_save_face(self, index: int, seed: int) -> None:
        path = ask_png_path(self, self.session.settings, "Save face as PNG", f"seed_{seed}.png")
        if path is not None:
            self.save_face(index, path)

    def shutdown(self) -> None:
        """Stop the render thread and wait for pending saves (closeEvent)."""
        self.renderer.shutdown()
        for task in self._tasks:
            # worker.finished -> thread.quit is queued to this (blocked) thread, so quit directly.
            if task.is_running():
                task.thread.quit()
            task.wait()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)
