"""Drop a file Waifu Studio wrote onto the window: the app goes back to what made it.

The file's recipe is read and its checkpoint found by SHA-256 (given recent files, the bundled
folder, the index of known checkpoints) in a worker; the model is loaded if it is not the
current one, then Generate (a seed grid or face), Morph (a morph strip or GIF) or Directions (an
edited face) is set up as the file was made. Restoring talks to the panels through their public
controls and the session only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject

from ..core.errors import RecipeError
from ..core.explore.reproduce import locate_checkpoints
from ..core.io.recipe import Recipe, decode_array, read_recipe
from .workers import Jobs, Task

RECIPE_SUFFIXES = (".png", ".gif")


def _read_and_locate(path: Path, recent: list[Path]) -> tuple[Recipe, Path]:
    recipe = read_recipe(path)
    if recipe.get("kind") == "map" or len(recipe.get("checkpoints", [])) != 1:
        raise RecipeError(f"{path.name} shows a map, a comparison or a timeline; only faces, grids, morphs and "
                          "edited faces can be restored (use 'waifu-studio reproduce' for the others)")
    return recipe, locate_checkpoints(recipe, search=[p for p in recent if p.exists()])[0]


def _recipe_paths(event) -> list[Path]:  # noqa: ANN001 - QDragEnterEvent | QDropEvent
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls()
            if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in RECIPE_SUFFIXES]


class RecipeDrop(QObject):
    """Accepts PNG/GIF drops on ``window`` (a MainWindow) and restores the state their recipe describes."""

    def __init__(self, window) -> None:  # noqa: ANN001 - MainWindow (imported by it)
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.jobs = Jobs(self)
        self._waiting: tuple[Recipe, str] | None = None  # restore once this checkpoint is loaded
        window.setAcceptDrops(True)
        window.installEventFilter(self)
        self.session.model_changed.connect(self._on_model_changed)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.window and event.type() in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if _recipe_paths(event):
                event.acceptProposedAction()
                return True
        elif obj is self.window and event.type() == QEvent.Type.Drop:
            paths = _recipe_paths(event)
            if paths:
                event.acceptProposedAction()
                self.restore_file(paths[0])
                return True
        return False

    def restore_file(self, path: str | Path) -> Task:
        """Read ``path``'s recipe in a worker, load its model if needed, then restore the panels."""
        path = Path(path)
        self.session.status_message.emit(f"Reading the recipe of {path.name}...")
        recent = self.session.recent_files()
        return self.jobs.submit("restore", lambda _ctx: _read_and_locate(path, recent), on_result=self._on_located,
                                on_error=lambda msg: self.session.report_error(f"Cannot restore {path.name}", msg))

    def _on_located(self, result: tuple[Recipe, Path]) -> None:
        recipe, checkpoint = result
        sha = recipe["checkpoints"][0]["sha256"]
        model = self.session.model
        if model is not None and getattr(model, "checkpoint_sha256", None) == sha:
            self.apply(recipe)
            return
        self._waiting = (recipe, sha)
        self.window.model_selector.open_path(checkpoint)

    def _on_model_changed(self, model) -> None:  # noqa: ANN001 - FaceModel | None
        if self._waiting is None or model is None:
            return
        recipe, sha = self._waiting
        if getattr(model, "checkpoint_sha256", None) == sha:
            self._waiting = None
            self.apply(recipe)

    # ------------------------------------------------------------------ restoring
    def apply(self, recipe: Recipe) -> None:
        """Set the panels up as ``recipe`` describes (its model is the current one)."""
        faces = recipe["faces"]
        if "edit" in recipe and "latents" in faces:
            self.session.set_current_latent(decode_array(faces["latents"])[0])
            self.window.show_tab("Directions")
        elif "morph" in faces:
            self._restore_morph(faces["morph"])
        elif "seeds" in faces:
            self._restore_grid(faces, recipe.get("layout") or {})
        elif "latents" in faces:
            self.session.set_current_latent(decode_array(faces["latents"])[0])
            self.window.show_tab("Directions")
        self.session.status_message.emit("Restored the view the file was made from")

    def _restore_grid(self, faces: dict, layout: dict) -> None:
        panel = self.window.panels["Generate"]
        seeds = faces["seeds"]
        side = int(round(len(seeds) ** 0.5))
        index = panel.grid_box.findData(side)
        if index >= 0:
            panel.grid_box.setCurrentIndex(index)
        panel.truncation_slider.setValue(int(round(float(faces.get("truncation", 1.0)) * 100)))
        panel.labels_check.setChecked(layout.get("labels") is not None)
        panel.seed_box.setValue(int(seeds[0]))
        self.window.show_tab("Generate")

    def _restore_morph(self, spec: dict) -> None:
        panel = self.window.panels["Morph"]
        panel.frames_box.setValue(len(spec["t"]))
        panel.slerp_box.setChecked(spec["method"] == "slerp")
        for which in ("A", "B"):
            end = spec[which.lower()]
            if "seed" in end:
                panel.wells[which].seed_box.setValue(int(end["seed"]))
                panel.set_endpoint_from_seed(which, int(end["seed"]))
            else:
                panel.drop_latent(which, np.asarray(decode_array(end["latent"])), end.get("label") or "from file")
        self.window.show_tab("Morph")
