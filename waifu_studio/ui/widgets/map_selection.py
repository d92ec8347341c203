"""The column beside the map that shows a lasso/box selection and what can be done with it.

Its faces as a grid (evenly spread through the selection) with their count; export (PNG grid +
CSV), its mean latent as morph A or B, the two groups of a direction and the direction's name,
and, for a folder's faces, exclude from (or include again in) training. Widgets only: the
``LatentMapPanel`` wires them to the map's state.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.explore.selection import evenly_spread
from .face_grid import FaceGrid

GRID_FACES = 36  # faces shown in the column (6 x 6)


class SelectionColumn(QWidget):
    """Selected faces and the actions on them; hidden while nothing is selected."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.count_label = QLabel("")
        self.count_label.setWordWrap(True)
        self.grid = FaceGrid(min_tile=24, spacing=2, max_tile=64)
        self.grid.placeholder = ""
        self.export_button = QPushButton("Export grid + CSV...")
        self.mean_a_button = QPushButton("Mean as A")
        self.mean_b_button = QPushButton("Mean as B")
        self.clear_button = QPushButton("Clear")
        self.plus_button = QPushButton("Use as +")
        self.minus_button = QPushButton("Use as \u2212")
        self.groups_label = QLabel("Pick a + group and a \u2212 group (say smiling / not smiling).")
        self.groups_label.setWordWrap(True)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("direction name")
        self.make_button = QPushButton("Make direction")
        self.exclude_button = QPushButton("Exclude from training")
        self.include_button = QPushButton("Include again")
        self.exclusion_label = QLabel("")
        self.exclusion_label.setWordWrap(True)

        top = QGridLayout()
        top.addWidget(self.export_button, 0, 0, 1, 2)
        top.addWidget(self.mean_a_button, 1, 0)
        top.addWidget(self.mean_b_button, 1, 1)
        direction = QGroupBox("Direction")
        d = QGridLayout(direction)
        d.addWidget(self.plus_button, 0, 0)
        d.addWidget(self.minus_button, 0, 1)
        d.addWidget(self.groups_label, 1, 0, 1, 2)
        d.addWidget(self.name_edit, 2, 0, 1, 2)
        d.addWidget(self.make_button, 3, 0, 1, 2)
        self.training_box = QGroupBox("Training data")
        t = QVBoxLayout(self.training_box)
        row = QHBoxLayout()
        row.addWidget(self.exclude_button)
        row.addWidget(self.include_button)
        t.addLayout(row)
        t.addWidget(self.exclusion_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.count_label)
        layout.addWidget(self.grid, 1)
        layout.addLayout(top)
        layout.addWidget(direction)
        layout.addWidget(self.training_box)
        layout.addWidget(self.clear_button)
        self.setFixedWidth(230)
        self.hide()

    def show_selection(self, indices: np.ndarray, faces: np.ndarray | None, labels: list[str]) -> None:
        """Show ``indices``' faces (at most GRID_FACES, spread evenly) and their count."""
        if not len(indices) or faces is None:
            self.grid.set_faces(np.zeros((0, 1, 1, 3), np.uint8))
            self.hide()
            return
        shown = evenly_spread(indices, GRID_FACES)
        self.grid.set_faces(np.asarray(faces[shown]), ncols=6, tooltips=[labels[i] for i in shown])
        more = f"; {len(shown)} shown" if len(shown) < len(indices) else ""
        self.count_label.setText(f"<b>{len(indices):,} selected</b>{more}")
        self.show()

    def show_groups(self, plus: int | None, minus: int | None) -> None:
        parts = [f"+ {plus:,} faces" if plus else "+ not set", f"\u2212 {minus:,} faces" if minus else "\u2212 not set"]
        self.groups_label.setText(", ".join(parts))
        self.make_button.setEnabled(bool(plus and minus))
