"""The Faces box of the Training panel: built-in faces or a folder, scanned in the background.

A scan loads (and caches) the chosen faces off the GUI thread; the newest scan wins. The box
shows how many faces are usable, why others were skipped, and a strip of real faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.config import DataConfig, setting_named
from ...core.data import FaceDataset, SkippedFile, load_dataset
from ...core.errors import WaifuError
from ...core.io.export import make_grid
from ..dialogs import ask_folder
from ..workers import Jobs, Task
from .training_view import GridView


@dataclass
class ScanResult:
    dataset: FaceDataset | None = None
    strip: np.ndarray | None = None  # a row of real faces from the set
    error: str = ""


def scan_dataset(config: DataConfig, progress: Any = None, cancel: Any = None) -> ScanResult:
    """Load (and cache) the faces ``config`` names and pick ~12 of them for a preview strip."""
    try:
        dataset = load_dataset(config, progress=lambda d, t: progress((d, t)) if progress else None, cancel=cancel)
    except WaifuError as err:
        return ScanResult(error=str(err))
    pick = np.unique(np.linspace(0, len(dataset) - 1, min(12, len(dataset))).round().astype(int))
    return ScanResult(dataset, make_grid(dataset.images[pick], ncols=len(pick), padding=1))


class FacesBox(QGroupBox):
    """Which faces to train on; emits :attr:`dataset_scanned` once a scan has loaded them."""

    dataset_scanned = Signal(object)  # FaceDataset
    scan_failed = Signal(str)  # a message a person can act on
    usable_changed = Signal(bool)  # whether the chosen faces can be trained on (Start follows it)

    def __init__(self, resolution: int, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("Faces", parent)
        self.settings = settings  # remembers the folder dialog's last folder
        self.dataset: FaceDataset | None = None
        self.usable = True  # False once a scan found no usable faces, or no folder is chosen
        self.details_dialog: QDialog | None = None
        self._folder: str | None = None
        self._resolution = resolution
        self.jobs = Jobs(self)
        self._build()
        self._scan_timer = QTimer(self, singleShot=True, interval=300)  # debounce form edits
        self._scan_timer.timeout.connect(self.scan)
        self.builtin_radio.toggled.connect(self.schedule_scan)
        self.builtin_count.valueChanged.connect(self.schedule_scan)
        self.folder_button.clicked.connect(self._choose_folder)
        self.details_button.clicked.connect(self.show_skipped_details)

    def _build(self) -> None:
        self.builtin_radio = QRadioButton("Built-in demo faces")
        self.folder_radio = QRadioButton("Folder")
        self.builtin_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.builtin_radio)
        group.addButton(self.folder_radio)
        count = setting_named("builtin_count", "data")  # bounds, default and help as declared
        self.builtin_count = QSpinBox(minimum=count.minimum, maximum=count.maximum, value=count.default, singleStep=256)
        self.builtin_count.setToolTip(f"{count.help} [{count.range_text()}]")
        self.folder_button = QPushButton("Choose...")
        self.folder_label = QLabel("no folder chosen")
        self.folder_label.setWordWrap(True)
        self.summary_label = QLabel("")
        self.details_button = QPushButton("Details...")
        self.strip = GridView(min_side=24)
        self.strip.setMinimumHeight(28)
        self.strip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.strip.setFixedHeight(30)
        layout = QGridLayout(self)
        layout.addWidget(self.builtin_radio, 0, 0)
        layout.addWidget(self.builtin_count, 0, 1)
        layout.addWidget(self.folder_radio, 1, 0)
        layout.addWidget(self.folder_button, 1, 1)
        layout.addWidget(self.folder_label, 2, 0, 1, 2)
        layout.addWidget(self.summary_label, 3, 0)
        layout.addWidget(self.details_button, 3, 1)
        layout.addWidget(self.strip, 4, 0, 1, 2)

    # ------------------------------------------------------------------ public
    def data_config(self, resolution: int | None = None) -> DataConfig:
        source = "builtin" if self.builtin_radio.isChecked() or not self._folder else self._folder
        return DataConfig(source=source, resolution=resolution or self._resolution,
                          builtin_count=self.builtin_count.value())

    def set_resolution(self, resolution: int) -> None:
        """The model's resolution changed: the faces are rescanned at it."""
        self._resolution = int(resolution)
        self.schedule_scan()

    def set_editable(self, editable: bool) -> None:
        for widget in (self.folder_button, self.builtin_radio, self.folder_radio, self.builtin_count):
            widget.setEnabled(editable)

    def set_dataset_folder(self, path: str | Path) -> None:
        """Train on the faces under ``path`` (scanned in the background)."""
        self._folder = str(Path(path))
        self.folder_label.setText(self._folder)
        self.folder_radio.setChecked(True)
        self._scan_timer.start()

    def schedule_scan(self, *_: Any) -> None:
        self._scan_timer.start()

    def scan(self) -> Task | None:
        """Scan the chosen faces now; the newest scan wins."""
        if self.folder_radio.isChecked() and not self._folder:
            self.summary_label.setText("choose a folder")
            self._set_usable(False)
            return None
        config = self.data_config()
        self.summary_label.setText("scanning...")
        self.details_button.setEnabled(False)
        return self.jobs.submit("scan", lambda ctx: scan_dataset(config, ctx.progress, ctx.cancel),
                                on_result=self._on_scanned, on_progress=self._on_scan_progress)

    def _set_usable(self, usable: bool) -> None:
        if usable != self.usable:
            self.usable = usable
            self.usable_changed.emit(usable)

    def show_skipped_details(self) -> QDialog:
        """A table of the skipped files and why each was skipped."""
        skipped: list[SkippedFile] = self.dataset.skipped if self.dataset else []
        dialog = QDialog(self)
        dialog.setWindowTitle(f"{len(skipped):,} skipped files")
        table = QTableWidget(len(skipped), 3, dialog)
        table.setHorizontalHeaderLabels(["File", "Reason", "Detail"])
        for i, item in enumerate(skipped):
            for j, text in enumerate((item.path, item.reason, item.detail)):
                table.setItem(i, j, QTableWidgetItem(text))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        QVBoxLayout(dialog).addWidget(table)
        dialog.resize(700, 400)
        self.details_dialog = dialog
        dialog.show()
        return dialog

    # ------------------------------------------------------------------ scan results
    def _choose_folder(self) -> None:
        path = ask_folder(self, self.settings, "dataset", "Folder of face images")
        if path is not None:
            self.set_dataset_folder(path)

    def _on_scan_progress(self, progress: tuple[int, int]) -> None:
        done, total = progress
        self.summary_label.setText(f"scanning... {done:,}/{total:,}")

    def _on_scanned(self, result: ScanResult) -> None:
        if result.error or result.dataset is None or result.strip is None:
            self.summary_label.setText("no usable faces")
            self._set_usable(False)
            self.scan_failed.emit(result.error)
            return
        self._set_usable(True)
        self.dataset = ds = result.dataset
        excluded = f", {ds.excluded:,} excluded by you" if ds.excluded else ""  # on the latent map
        self.summary_label.setText(f"{len(ds):,} faces, {len(ds.skipped):,} skipped{excluded}")
        self.summary_label.setToolTip(ds.summary())
        self.details_button.setEnabled(bool(ds.skipped))
        self.strip.set_image(result.strip)
        self.dataset_scanned.emit(ds)
