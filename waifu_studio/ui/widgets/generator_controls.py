"""The Generate tab's controls: a view of :class:`~waifu_studio.state.generator.GeneratorSettings`.

The widgets write what the user does into the settings and redraw from the settings' ``changed``
event, so the seed box's maximum always fits the grid (from start-up on), and a typed truncation,
the slider and Reset always agree.
"""

from __future__ import annotations

import random

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ...state.generator import GRID_SIDES, TRUNCATION_RANGE, GeneratorSettings

SLIDER_STEPS = 100  # slider units per 1.0 of truncation


class GeneratorControls(QWidget):
    """Seed, Randomize, grid size, truncation (slider, typed value, Reset), seed labels, Save, Copy as command."""

    labels_toggled = Signal(bool)

    def __init__(self, settings: GeneratorSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.seed_box = QSpinBox()
        self.seed_box.setAccelerated(True)
        self.seed_box.setMinimumWidth(120)
        self.seed_box.setKeyboardTracking(False)  # a face per typed number, not per digit
        self.seed_box.setToolTip("Seed of the first face: type (Enter), use the arrow keys or scroll the mouse wheel")
        self.randomize_button = QPushButton("Randomize")
        self.randomize_button.setToolTip("Jump to a random seed (R, also while typing a seed)")
        self.randomize_button.setShortcut("R")
        self.grid_box = QComboBox()
        for n in GRID_SIDES:
            self.grid_box.addItem(f"{n} x {n}", n)
        self.grid_box.setToolTip("Faces shown: seeds S .. S+N-1")
        self.truncation_slider = QSlider(Qt.Orientation.Horizontal)
        low, high = (round(v * SLIDER_STEPS) for v in TRUNCATION_RANGE)
        self.truncation_slider.setRange(low, high)
        self.truncation_slider.setFixedWidth(120)
        self.truncation_slider.setToolTip("Truncation: below 1 pulls faces toward the average (cleaner, less varied)")
        self.truncation_box = QDoubleSpinBox(decimals=2, singleStep=0.05)
        self.truncation_box.setRange(*TRUNCATION_RANGE)
        self.truncation_box.setKeyboardTracking(False)
        self.truncation_box.setToolTip("Type a truncation (0 to 1.5)")
        self.truncation_reset = QToolButton()
        self.truncation_reset.setText("1.0")
        self.truncation_reset.setToolTip("Reset truncation to 1.0 (no truncation)")
        self.labels_check = QCheckBox("Seed labels")
        self.labels_check.setToolTip("Show each face's seed under it (also in saved grids)")
        self.save_button = QPushButton("Save grid...")
        self.command_button = QPushButton("Copy as command")
        self.command_button.setToolTip("Copy the waifu-studio command line that writes this grid")

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        for widget in (QLabel("Seed"), self.seed_box, self.randomize_button):
            row.addWidget(widget)
        row.addSpacing(10)
        row.addWidget(QLabel("Grid"))
        row.addWidget(self.grid_box)
        row.addSpacing(10)
        for widget in (QLabel("Truncation"), self.truncation_slider, self.truncation_box, self.truncation_reset):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.labels_check)
        row.addWidget(self.save_button)
        row.addWidget(self.command_button)

        self._sync()
        settings.changed.connect(self._sync)
        self.seed_box.valueChanged.connect(lambda value: settings.update(seed=value))
        self.grid_box.currentIndexChanged.connect(lambda _i: settings.update(side=self.grid_box.currentData()))
        self.truncation_slider.valueChanged.connect(lambda v: settings.update(truncation=v / SLIDER_STEPS))
        self.truncation_box.valueChanged.connect(lambda v: settings.update(truncation=v))
        self.truncation_reset.clicked.connect(lambda: settings.update(truncation=1.0))
        self.randomize_button.clicked.connect(self.randomize)
        self.labels_check.toggled.connect(self.labels_toggled)
        # While the seed box has focus it takes the R key as text (and refuses it): catch it there.
        self.seed_box.lineEdit().installEventFilter(self)

    def randomize(self) -> None:
        self.settings.update(seed=random.randint(0, self.settings.max_seed))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_R
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            self.randomize()
            return True
        return super().eventFilter(watched, event)

    def _sync(self) -> None:
        """Show the settings (signals blocked: this is a redraw, not a user action)."""
        s = self.settings
        for widget, apply in (
            (self.seed_box, lambda: (self.seed_box.setRange(0, s.max_seed), self.seed_box.setValue(s.seed))),
            (self.grid_box, lambda: self.grid_box.setCurrentIndex(GRID_SIDES.index(s.side))),
            (self.truncation_slider, lambda: self.truncation_slider.setValue(round(s.truncation * SLIDER_STEPS))),
            (self.truncation_box, lambda: self.truncation_box.setValue(s.truncation)),
        ):
            widget.blockSignals(True)
            apply()
            widget.blockSignals(False)
        self.truncation_reset.setEnabled(s.truncation != 1.0)
