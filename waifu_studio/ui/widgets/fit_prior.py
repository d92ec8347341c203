"""Refit the loaded AE's or VAE's sampling prior to a folder of faces, with progress (the CLI's ``fit-prior``).

The dialog only collects the choices and shows progress; the work is ``core.training.prior_refit``
in a worker thread. It reads the checkpoint afresh, so the model the app shows is never changed
under its feet, writes a new file, and the new file is then opened like any other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.config import SPLITS
from ...core.models.prior_fit import MAX_COMPONENTS, describe_report
from ...core.training.prior_refit import refit_checkpoint
from ..session import Session
from ..workers import Jobs, TaskContext

PROGRESS_STEPS = 1000
JOB = "fit-prior"


def _refit(ctx: TaskContext, checkpoint: Path, folder: str, out: Path, split: str, components: str | int,
           device: str) -> tuple[Path, dict]:
    """Worker body: the core refit, with its (fraction, text) progress sent as one object."""
    return refit_checkpoint(checkpoint, folder, out, split=split, components=components, device=device,
                            progress=lambda fraction, text: ctx.progress((fraction, text)), cancel=ctx.cancel)


def _default_out(checkpoint: Path) -> Path:
    """``NAME-refit.safetensors`` beside the checkpoint, or in the home folder if that is read-only."""
    folder = checkpoint.parent if os.access(checkpoint.parent, os.W_OK) else Path.home()
    return folder / f"{checkpoint.stem}-refit.safetensors"


class FitPriorDialog(QDialog):
    """Choose a folder, split and number of components; fit; the refitted checkpoint is then opened."""

    written = Signal(object)  # Path of the refitted checkpoint
    failed = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Refit sampling prior")
        self.jobs = Jobs(self)
        self._checkpoint: Path | None = None
        self._device = "cpu"

        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.folder_edit = QLineEdit(str(session.settings.value("dataset_dir", "")))
        browse_folder = QPushButton("Browse...")
        browse_folder.clicked.connect(self._ask_folder)
        self.split_combo = QComboBox()
        self.split_combo.addItems(list(SPLITS))
        self.split_combo.setCurrentText("train")
        self.split_combo.setToolTip("Faces whose codes the prior is fitted to. With 'train' the kind of mixture "
                                    "is chosen on the validation split (every 10th face).")
        self.components_box = QSpinBox()
        self.components_box.setRange(0, MAX_COMPONENTS)
        self.components_box.setSpecialValueText("auto")  # 0: chosen by held-out likelihood
        self.components_box.setToolTip("Number of Gaussians; 'auto' picks it by held-out likelihood")
        self.out_edit = QLineEdit()
        browse_out = QPushButton("Browse...")
        browse_out.clicked.connect(self._ask_out)

        form = QFormLayout()
        form.addRow(self.model_label)
        form.addRow("Faces folder", self._row(self.folder_edit, browse_folder))
        form.addRow("Fit to split", self.split_combo)
        form.addRow("Components", self.components_box)
        form.addRow("Save as", self._row(self.out_edit, browse_out))
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.fit_button = QPushButton("Fit prior")
        self.fit_button.setDefault(True)
        self.fit_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.fit_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(560, self.sizeHint().height())
        self.set_model()

    @staticmethod
    def _row(edit: QLineEdit, button: QPushButton) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        box.addWidget(button)
        return row

    def set_model(self) -> None:
        """Describe the session's model and propose an output file next to its checkpoint."""
        model, path = self.session.model, self.session.model_path
        if model is None or path is None:
            self._checkpoint = None
            self.model_label.setText("No checkpoint loaded.")
            return
        self._checkpoint, self._device = Path(path), str(model.device)
        prior = model.prior.describe() if model.prior is not None else "its own prior"
        self.model_label.setText(f"{model.family} {path.name}: samples from {prior}.")
        self.out_edit.setText(str(_default_out(self._checkpoint)))

    # ---------------------------------------------------------------- inputs
    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of faces", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _ask_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save refitted checkpoint", self.out_edit.text(),
                                              "Checkpoints (*.safetensors)")
        if path:
            self.out_edit.setText(path)

    def _checked_inputs(self) -> tuple[str, Path] | None:
        """The folder and output path, or None after telling the user what is wrong."""
        folder, out = self.folder_edit.text().strip(), Path(self.out_edit.text().strip())
        problem = ""
        if self._checkpoint is None:
            problem = "Load an AE or VAE checkpoint first."
        elif not folder or not Path(folder).is_dir():
            problem = f"Faces folder not found: {folder or '(empty)'}"
        elif out.suffix.lower() != ".safetensors":
            problem = f"The refitted checkpoint must end in .safetensors: {out}"
        elif not out.parent.is_dir():
            problem = f"Cannot write {out}: folder {out.parent} does not exist"
        if problem:
            self._fail(problem)
            return None
        return folder, out

    # ------------------------------------------------------------------ work
    def start(self) -> None:
        if self.is_running():
            return
        inputs = self._checked_inputs()
        if inputs is None:
            return
        folder, out = inputs
        self.session.settings.setValue("dataset_dir", folder)
        components: str | int = self.components_box.value() or "auto"
        self._busy(True, "Reading faces...")
        args = (self._checkpoint, folder, out, self.split_combo.currentText(), components, self._device)
        self.jobs.submit(JOB, lambda ctx: _refit(ctx, *args), on_result=self._on_result, on_error=self._fail,
                         on_progress=self._on_progress, on_finished=lambda: self._busy(False))

    def is_running(self) -> bool:
        return self.jobs.is_busy(JOB)

    def _on_progress(self, value: object) -> None:
        fraction, text = value  # type: ignore[misc]
        self.progress.setValue(int(PROGRESS_STEPS * fraction))
        self.status.setText(str(text))

    def _on_result(self, result: tuple[Path, dict]) -> None:
        path, report = result
        self.status.setText(f"Chose {describe_report(report)}.\nWrote {path}")
        self.written.emit(Path(path))

    def _fail(self, message: str) -> None:
        self.status.setText(message)
        self.failed.emit(message)
        self.session.report_error("Cannot refit the prior", message)

    def _busy(self, busy: bool, text: str | None = None) -> None:
        self.progress.setVisible(busy)
        if busy:
            self.progress.setValue(0)
        self.fit_button.setEnabled(not busy)
        self.cancel_button.setText("Cancel" if busy else "Close")
        if text is not None:
            self.status.setText(text)

    def _cancel_or_close(self) -> None:
        if self.is_running():
            self.jobs.cancel(JOB)  # stops at the next batch or fit; nothing is written
            self.status.setText("Cancelled; nothing was written.")
            self._busy(False)
        else:
            self.close()

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override
        self.jobs.cancel(JOB)
        super().closeEvent(event)


def open_fit_prior_dialog(parent: QWidget, session: Session,
                          open_path: Callable[[Path], object]) -> FitPriorDialog | None:
    """The menu action: a dialog for the loaded AE/VAE (reused between openings), or an error for a GAN."""
    model = session.model
    if model is None or model.prior is None or session.model_path is None:
        what = "no model is loaded" if model is None else f"a {model.family} samples from its own prior"
        session.report_error("Cannot refit the prior", f"Refitting the sampling prior needs a loaded AE or VAE "
                             f"checkpoint; {what}.")
        return None
    dialog = parent.findChild(FitPriorDialog)
    if dialog is None:
        dialog = FitPriorDialog(session, parent)
        dialog.written.connect(open_path)
    if not dialog.is_running():
        dialog.set_model()
    dialog.show()
    dialog.raise_()
    return dialog
