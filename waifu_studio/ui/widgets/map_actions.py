"""What the latent map's selection column does: export, mean as A/B, directions, training exclusions.

The work is in core (``explore.selection``, ``explore.user_directions``, ``data.exclusions``);
file writes and decodes run in tasks. The selection itself is ``state.map.MapSelection``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QFileDialog

from ...core.data import exclude, include, load_exclusions
from ...core.errors import WaifuError
from ...core.explore.selection import export_selection, mean_latent
from ...core.explore.user_directions import save_direction

if TYPE_CHECKING:
    from .latent_map import LatentMapPanel


class SelectionActions:
    """Wires the panel's ``MapSelection`` to the view (rings) and the column (faces, buttons)."""

    def __init__(self, panel: LatentMapPanel) -> None:
        self.panel = panel
        column, selection = panel.column, panel.selection
        panel.view.selected.connect(selection.set)
        selection.changed.connect(self._on_changed)
        selection.groups_changed.connect(self._on_groups)
        column.clear_button.clicked.connect(lambda: selection.clear())
        column.export_button.clicked.connect(self._ask_export)
        column.mean_a_button.clicked.connect(lambda: self.mean_as("A"))
        column.mean_b_button.clicked.connect(lambda: self.mean_as("B"))
        column.plus_button.clicked.connect(lambda: self.keep_group("plus"))
        column.minus_button.clicked.connect(lambda: self.keep_group("minus"))
        column.make_button.clicked.connect(lambda: self.make_direction(column.name_edit.text()))
        column.exclude_button.clicked.connect(lambda: self.set_excluded(True))
        column.include_button.clicked.connect(lambda: self.set_excluded(False))
        self._on_groups()

    def _on_changed(self, indices: np.ndarray) -> None:
        panel, source = self.panel, self.panel.source
        panel.view.set_selected(indices)
        panel.column.show_selection(indices, None if source is None else source.faces,
                                    [] if source is None else source.labels)
        folder = source is not None and bool(source.root)
        panel.column.training_box.setVisible(folder)
        if folder:
            self._show_exclusions()

    def _on_groups(self) -> None:
        groups = self.panel.selection.groups
        self.panel.column.show_groups(*(groups[k].count if k in groups else None for k in ("plus", "minus")))

    # ---------------------------------------------------------------- actions
    def export(self, path: str | Path):  # noqa: ANN201 - Task
        """The selection as ``path``.png (face grid) and ``path``.csv (every selected point)."""
        panel, source = self.panel, self.panel.source
        indices = panel.selection.indices
        return panel._run(export_selection, Path(path), source.faces, source.labels, panel.layout().copy(),
                          source.latents, indices.copy(), source.root,
                          on_result=lambda paths: panel.session.status_message.emit(
                              f"Saved {len(indices):,} faces: {paths[0].name} and {paths[1].name}"),
                          on_error=lambda m: panel.session.report_error("Export selection", m))

    def mean_as(self, which: str):  # noqa: ANN201 - Task | None
        """The selection's mean latent becomes morph endpoint ``which`` (its face decoded in a task)."""
        panel, model, source = self.panel, self.panel._model, self.panel.source
        indices = panel.selection.indices
        if model is None or source is None or not len(indices):
            return None
        latent = mean_latent(source.latents, indices)
        label = f"mean of {len(indices):,} selected faces"
        return panel._run(model.decode, latent,
                          on_result=lambda faces: panel.session.set_endpoint(which, latent, faces[0], label),
                          on_error=lambda m: panel.session.report_error("Latent map", m))

    def keep_group(self, which: str) -> None:
        source = self.panel.source
        if source is not None:
            self.panel.selection.keep_as(which, source.latents)

    def make_direction(self, name: str) -> bool:
        """Save the + group's mean minus the - group's as direction ``name`` of this model."""
        panel, groups = self.panel, self.panel.selection.groups
        if panel._model is None or "plus" not in groups or "minus" not in groups:
            return False
        plus, minus = groups["plus"], groups["minus"]
        try:
            saved = save_direction(panel._model, name, plus.mean_latent, minus.mean_latent, plus.count, minus.count)
        except WaifuError as err:
            panel.session.report_error("Make direction", str(err))
            return False
        panel.column.name_edit.clear()
        panel.status.setText(f"Saved direction \u201c{saved.name}\u201d: it is a slider in Directions.")
        panel.session.status_message.emit(f"Saved direction {saved.name}")
        return True

    def set_excluded(self, excluded: bool) -> None:
        """Exclude the selected faces of a folder from training (or include them again)."""
        panel, source = self.panel, self.panel.source
        if source is None or not source.root or not len(panel.selection):
            return
        names = [source.labels[i] for i in panel.selection.indices]
        try:
            (exclude if excluded else include)(source.root, names)
        except WaifuError as err:
            panel.session.report_error("Training data", str(err))
            return
        self._show_exclusions()

    def _show_exclusions(self) -> None:
        source = self.panel.source
        excluded = load_exclusions(source.root)
        chosen = sum(source.labels[i] in excluded for i in self.panel.selection.indices) if excluded else 0
        self.panel.column.exclusion_label.setText(
            f"{len(excluded):,} faces of this folder excluded from training"
            + (f" ({chosen:,} of the selected)" if chosen else "") + ". Nothing in the folder changes.")

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.panel, "Export selection (PNG grid + CSV)", "selection.png",
                                              "PNG grid and CSV (*.png)")
        if path:
            self.export(path)
