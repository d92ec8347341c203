"""What the latent map's selection column does: export, mean as A/B, directions, training exclusions.

The work is in core (``explore.selection``, ``explore.user_directions``, ``data.exclusions``);
file reads, writes and decodes run as the panel's jobs. The selection itself is
``state.map.MapSelection``. Faces excluded from training are crossed out on the map.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.data import exclude, excluded_mask, include, load_exclusions
from ...core.explore.selection import export_selection, mean_latent
from ...core.explore.user_directions import save_direction
from ..dialogs import ask_save_path
from ..workers import Task

if TYPE_CHECKING:
    from .latent_map import LatentMapPanel


def _excluded_points(root: str, labels: list[str]) -> tuple[int, np.ndarray]:
    """How many faces of ``root`` are excluded from training, and which of the map's points they are."""
    excluded = load_exclusions(root)
    return len(excluded), np.flatnonzero(excluded_mask(labels, excluded)) if excluded else np.zeros(0, np.int64)


class SelectionActions:
    """Wires the panel's ``MapSelection`` to the view (rings) and the column (faces, buttons)."""

    def __init__(self, panel: LatentMapPanel) -> None:
        self.panel = panel
        self._excluded: tuple[int, np.ndarray] | None = None  # (faces excluded, points crossed out)
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
        panel.column.training_box.setVisible(source is not None and bool(source.root))
        self._show_exclusions(self._excluded)

    def _on_groups(self) -> None:
        groups = self.panel.selection.groups
        self.panel.column.show_groups(*(groups[k].count if k in groups else None for k in ("plus", "minus")))
        if self.panel.jobs.is_busy("direction"):
            self.panel.column.make_button.setEnabled(False)

    # ---------------------------------------------------------------- actions
    def export(self, path: str | Path) -> Task:
        """The selection as ``path``.png (face grid) and ``path``.csv (every selected point)."""
        panel, source = self.panel, self.panel.source
        indices = panel.selection.indices.copy()
        layout = panel.layout().copy()
        return panel.jobs.submit(
            f"export {path}",
            lambda _ctx: export_selection(Path(path), source.faces, source.labels, layout, source.latents,
                                          indices, source.root),
            on_result=lambda paths: panel.session.status_message.emit(
                f"Saved {len(indices):,} faces: {paths[0].name} and {paths[1].name}"),
            on_error=lambda m: panel.session.report_error("Export selection", m))

    def mean_as(self, which: str) -> Task | None:
        """The selection's mean latent becomes morph endpoint ``which`` (its face decoded in a job)."""
        panel, model, source = self.panel, self.panel._model, self.panel.source
        indices = panel.selection.indices
        if model is None or source is None or not len(indices):
            return None
        latent = mean_latent(source.latents, indices)
        label = f"mean of {len(indices):,} selected faces"
        return panel.jobs.submit(
            f"mean {which}", lambda _ctx: model.decode(latent)[0],
            on_result=lambda face: panel.session.set_endpoint(which, latent, face, label, kind="map"),
            on_error=lambda m: panel.session.report_error("Latent map", m))

    def keep_group(self, which: str) -> None:
        source = self.panel.source
        if source is not None:
            self.panel.selection.keep_as(which, source.latents)

    def make_direction(self, name: str) -> Task | None:
        """Save the + group's mean minus the - group's as direction ``name`` of this model (in a job)."""
        panel, groups, model = self.panel, self.panel.selection.groups, self.panel._model
        if model is None or "plus" not in groups or "minus" not in groups:
            return None
        plus, minus = groups["plus"], groups["minus"]
        column = panel.column

        def saved(direction) -> None:  # noqa: ANN001 - SavedDirection
            column.name_edit.clear()
            panel.status.setText(f"Saved direction \u201c{direction.name}\u201d: it is a slider in Directions.")
            panel.session.status_message.emit(f"Saved direction {direction.name}")

        column.make_button.setEnabled(False)  # one save at a time: each rewrites the model's direction file
        return panel.jobs.submit(
            "direction",
            lambda _ctx: save_direction(model, name, plus.mean_latent, minus.mean_latent, plus.count, minus.count),
            on_result=saved, on_error=lambda m: panel.session.report_error("Make direction", m),
            on_finished=self._on_groups)

    def set_excluded(self, excluded: bool) -> Task | None:
        """Exclude the selected faces of a folder from training (or include them again), in a job."""
        panel, source = self.panel, self.panel.source
        if source is None or not source.root or not len(panel.selection):
            return None
        root, names = source.root, [source.labels[i] for i in panel.selection.indices]
        change = exclude if excluded else include
        self._set_exclusion_buttons(False)  # one change at a time: each rewrites the folder's list
        return panel.jobs.submit("exclusions save", lambda _ctx: change(root, names),
                                 on_error=lambda m: panel.session.report_error("Training data", m),
                                 on_finished=self.load_exclusions)

    def load_exclusions(self) -> None:
        """Read the folder's exclusion list (in a job) and cross its faces out on a complete map."""
        panel, source = self.panel, self.panel.source
        self._set_exclusion_buttons(not panel.jobs.is_busy("exclusions save"))
        if source is None or not source.root or not panel._complete:
            self._show_exclusions(None)
            return
        root, labels = source.root, source.labels
        panel.jobs.submit("exclusions", lambda _ctx: _excluded_points(root, labels),
                          on_result=self._show_exclusions,
                          on_error=lambda m: panel.session.report_error("Training data", m))

    def _show_exclusions(self, found: tuple[int, np.ndarray] | None) -> None:
        panel = self.panel
        self._excluded = found
        count, points = found if found is not None else (0, np.zeros(0, np.int64))
        panel.view.set_excluded(points)
        panel.controls.excluded_label.setText(
            f"\u2715 {len(points):,} faces on this map are excluded from training" if len(points) else "")
        if found is None:
            panel.column.exclusion_label.setText("")
            return
        chosen = int(np.isin(panel.selection.indices, points).sum())
        panel.column.exclusion_label.setText(
            f"{count:,} faces of this folder excluded from training"
            + (f" ({chosen:,} of the selected)" if chosen else "") + ". Nothing in the folder changes.")

    def _set_exclusion_buttons(self, enabled: bool) -> None:
        self.panel.column.exclude_button.setEnabled(enabled)
        self.panel.column.include_button.setEnabled(enabled)

    def _ask_export(self) -> None:
        path = ask_save_path(self.panel, self.panel.session.settings, "export", "Export selection (PNG grid + CSV)",
                             "selection.png", "PNG grid and CSV (*.png)", ".png")
        if path is not None:
            self.export(path)
