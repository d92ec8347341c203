"""Generate: faces for seeds S..S+N-1, live as the seed, grid size or truncation changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import WaifuError
from ...core.explore.reproduce import image_recipe, layout_part, model_ref, seeds_part
from ..dialogs import ask_png_path
from ..session import Session
from ..workers import Jobs, Task
from .face_grid import FaceGrid
from .face_tile import latent_mime_data
from .generator_controls import GeneratorControls
from .recipe_actions import copy_command, save_recipe


@dataclass
class GeneratedFaces:
    """One render: what the grid shows and where each face came from."""

    seeds: list[int]
    truncation: float
    latents: np.ndarray
    faces: np.ndarray
    model: object
    model_key: str | None


def _render(model, model_key: str | None, seeds: list[int], truncation: float) -> GeneratedFaces:
    latents = model.seeds_to_latents(seeds, truncation)
    return GeneratedFaces(seeds, truncation, latents, model.decode(latents), model, model_key)


class GeneratorPanel(QWidget):
    """Seed, grid size and truncation controls over a big grid of faces."""

    rendered = Signal()  # the displayed faces changed
    edit_requested = Signal()  # "Edit in Directions": the main window switches tabs
    nearest_requested = Signal(object)  # "Nearest training faces" of this face (H, W, 3 uint8)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._shown: GeneratedFaces | None = None
        self.jobs = Jobs(self)

        self.settings = session.generator
        self.controls = c = GeneratorControls(self.settings)
        # The controls under the names the panel always had (tests, main window).
        self.seed_box, self.randomize_button, self.grid_box = c.seed_box, c.randomize_button, c.grid_box
        self.truncation_slider, self.truncation_box = c.truncation_slider, c.truncation_box
        self.truncation_reset, self.labels_check, self.save_button = c.truncation_reset, c.labels_check, c.save_button
        self.command_button = c.command_button

        self.grid = FaceGrid()
        self.hint = QLabel("Click a face: morph A  \u00b7  Shift-click: morph B  \u00b7  "
                           "Right-click: more  \u00b7  Drag a face onto the Morph tab")
        self.hint.setEnabled(False)  # drawn in the muted text colour
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.hint, 0, Qt.AlignmentFlag.AlignHCenter)

        self.settings.changed.connect(self.refresh)
        self.labels_check.toggled.connect(lambda _on: self._draw())
        self.save_button.clicked.connect(self._ask_save_grid)
        self.command_button.clicked.connect(self.copy_grid_command)
        session.morph.changed.connect(lambda _which: self._mark_endpoints())
        self.grid.clicked.connect(self._on_clicked)
        self.grid.context_requested.connect(self._show_menu)
        self.grid.drag_requested.connect(self._start_drag)
        session.model_changed.connect(self._on_model_changed)
        self.refresh()

    # --------------------------------------------------------------- settings
    def grid_side(self) -> int:
        return self.settings.side

    def truncation(self) -> float:
        return self.settings.truncation

    def requested_seeds(self) -> list[int]:
        return self.settings.seeds()

    def randomize(self) -> None:
        self.controls.randomize()

    # -------------------------------------------------------------- rendering
    def _on_model_changed(self, _model) -> None:
        self.jobs.cancel("render")  # faces of the old model are never shown
        self.refresh()

    def refresh(self) -> None:
        """Ask for the faces the controls describe; only the newest request is decoded."""
        model = self.session.model
        if model is None:
            self._shown = None
            self.grid.set_faces(np.zeros((0, 1, 1, 3), np.uint8))
            return
        seeds, truncation, key = self.requested_seeds(), self.truncation(), self.session.model_key
        self.jobs.submit("render", lambda _ctx: _render(model, key, seeds, truncation), on_result=self._on_rendered,
                         on_error=lambda msg: self.session.report_error("Cannot draw faces", msg),
                         show_superseded=True)

    def _on_rendered(self, result: GeneratedFaces) -> None:
        self._shown = result
        self._draw()
        self.rendered.emit()

    def _draw(self) -> None:
        result = self._shown
        if result is None:
            return
        tips = [f"seed {s}" + (f"  (truncation {result.truncation:.2f})" if result.truncation != 1.0 else "")
                for s in result.seeds]
        labels = [str(s) for s in result.seeds] if self.labels_check.isChecked() else None
        self.grid.set_faces(result.faces, ncols=self.grid_side_of(len(result.seeds)), labels=labels, tooltips=tips)
        self._mark_endpoints()

    def _mark_endpoints(self) -> None:
        """Mark the faces that are morph endpoints A and B (the faces themselves, not tile positions)."""
        marks: dict[int, str] = {}
        if self._shown is not None:
            for which in ("A", "B"):
                end = self.session.morph.get(which)
                if end is None or end.model_key != self._shown.model_key:
                    continue
                for i, latent in enumerate(self._shown.latents):
                    if np.array_equal(latent, end.latent):
                        marks[i] = marks.get(i, "") + which
        self.grid.set_marks(marks)

    def marked_faces(self) -> dict[int, str]:
        """Which tiles are marked as endpoints ("A", "B" or "AB"), as drawn."""
        return self.grid.marks()

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
            if self._shown is not None and self._shown.truncation == 1.0:
                self.session.set_endpoint(which, latent, face, f"seed {seed}", seed=seed)
            else:  # a truncated face: another model cannot make it again from the seed alone
                self.session.set_endpoint(which, latent, face, f"seed {seed} (truncation {self.truncation():.2f})",
                                          seed=seed, kind="face")

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
            self.session.set_current_latent(item[1], f"seed {item[0]}")
            self.edit_requested.emit()

    def _start_drag(self, index: int) -> None:
        item = self._face(index)
        if item is not None:
            seed, latent, face = item
            truncated = self._shown is not None and self._shown.truncation != 1.0
            self.grid.start_drag(latent_mime_data(latent, f"seed {seed}", face=face, seed=None if truncated else seed,
                                                  model_key=self.session.model_key), index)

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
        return save_recipe(self.jobs, self.session, recipe, [self._shown.model], path)

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

    def _ask_save_grid(self) -> None:
        name = f"seeds_{self.settings.seed}.png"
        path = ask_png_path(self, self.session.settings, "Save grid as PNG", name)
        if path is not None:
            self.export_png(path)

    def save_face(self, index: int, path: str | Path) -> Task | None:
        recipe = self._recipe_or_report(lambda: self.face_recipe(index))
        if recipe is None:
            return None
        return save_recipe(self.jobs, self.session, recipe, [self._shown.model], path)

    def _ask_save_face(self, index: int, seed: int) -> None:
        path = ask_png_path(self, self.session.settings, "Save face as PNG", f"seed_{seed}.png")
        if path is not None:
            self.save_face(index, path)

    def shutdown(self) -> None:
        """Drop pending renders, let saves finish, join every thread (closeEvent)."""
        self.jobs.cancel("render")
        self.jobs.shutdown(cancel=False)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)
