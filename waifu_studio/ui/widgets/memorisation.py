"""Does it copy? Nearest training faces for any face on screen, and a memorisation/coverage report.

Both work against a chosen folder (default: the data the model was trained on, as its checkpoint
records it) in the fixed appearance feature space of ``core/quality/memorisation.py``. Indexing,
searching and the report run in workers; the report shows its progress and can be cancelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.models.seeds import MAX_SEED
from ...core.quality.memorisation import MemorisationReport, index_folder, memorisation_report, nearest_faces
from ..session import Session
from ..workers import Jobs, Task
from .face_grid import FaceGrid

N_NEAREST = 8


NEAREST_ROW_HEIGHT = 160  # a 128 px face, its distance label and margins
PLACEHOLDER = "Folder of real faces (default: the model's training data)"


def run_data_folder(model) -> str:  # noqa: ANN001 - FaceModel
    """The folder a model was trained on, as its checkpoint records it ('' when unknown or built-in)."""
    info = getattr(model, "checkpoint_info", None)
    source = ((getattr(info, "training", None) or {}).get("data") or {}).get("source", "")
    return "" if source in ("", "builtin") else str(source)


def _nearest(face: np.ndarray, folder: str, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    index = index_folder(folder, resolution)
    order, distances = nearest_faces(face, index, N_NEAREST)
    return face, index.images[order], distances, [index.paths[i] for i in order]


class MemorisationPanel(QWidget):
    """Folder, nearest training faces of a face, and the report with both clouds on one map."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.nearest: tuple[np.ndarray, np.ndarray, np.ndarray, list[str]] | None = None
        self.report: MemorisationReport | None = None
        self.jobs = Jobs(self)
        self._offered = ""  # the training folder filled in for the current model ('' if none)
        self._build()
        session.model_changed.connect(self._on_model_changed)
        self._on_model_changed(session.model)

    def _build(self) -> None:
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText(PLACEHOLDER)
        choose = QPushButton("Choose...")
        choose.clicked.connect(self._ask_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("Compare with"))
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(choose)

        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.seed_box.setToolTip("The face of this seed is compared (or use 'Nearest training faces' on any face)")
        self.find_button = QPushButton("Nearest training faces")
        self.find_button.clicked.connect(self.find_for_seed)
        self.query = FaceGrid(min_tile=96, max_tile=128)
        self.query.setFixedWidth(150)
        self.results = FaceGrid(min_tile=64, max_tile=128)
        # One row of faces with their distances: the rest of the height goes to the report's map.
        for grid in (self.query, self.results):
            grid.setMaximumHeight(NEAREST_ROW_HEIGHT)
        self.query.placeholder = ""
        self.results.placeholder = ("Choose a folder and press 'Nearest training faces' "
                                    "(or right-click a face in Generate)")
        self.nearest_status = QLabel("")
        nearest_box = QGroupBox(f"Nearest training faces ({N_NEAREST}, RMS colour difference in Delta E)")
        top = QHBoxLayout()
        top.addWidget(QLabel("Seed"))
        top.addWidget(self.seed_box)
        top.addWidget(self.find_button)
        top.addWidget(self.nearest_status, 1)
        faces = QHBoxLayout()
        faces.addWidget(self.query)
        faces.addWidget(self.results, 1)
        nearest_layout = QVBoxLayout(nearest_box)
        nearest_layout.addLayout(top)
        nearest_layout.addLayout(faces)

        self.count_box = QSpinBox()
        self.count_box.setRange(50, 50000)
        self.count_box.setValue(2000)
        self.count_box.setToolTip("Generated faces (seeds 0..n-1) and real faces sampled for the report")
        self.run_button = QPushButton("Run report")
        self.run_button.clicked.connect(self.run_report)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_report)
        self.progress = QProgressBar()
        self.progress.setRange(0, 4)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(220)
        self.plot.addLegend()
        self.real_points = pg.ScatterPlotItem(size=4, brush=pg.mkBrush(70, 130, 230, 140), pen=None, name="real")
        self.generated_points = pg.ScatterPlotItem(size=4, brush=pg.mkBrush(235, 90, 60, 140), pen=None,
                                                   name="generated")
        self.plot.addItem(self.real_points)
        self.plot.addItem(self.generated_points)
        report_box = QGroupBox("Memorisation and coverage report")
        controls = QHBoxLayout()
        for widget in (QLabel("Faces"), self.count_box, self.run_button, self.cancel_button, self.progress):
            controls.addWidget(widget, 1 if widget is self.progress else 0)
        report_layout = QVBoxLayout(report_box)
        report_layout.addLayout(controls)
        report_layout.addWidget(self.result_label)
        report_layout.addWidget(self.plot, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(folder_row)
        layout.addWidget(nearest_box)
        layout.addWidget(report_box, 1)

    # ------------------------------------------------------------------ folder
    def folder(self) -> str:
        return self.folder_edit.text().strip()

    def _on_model_changed(self, model) -> None:  # noqa: ANN001 - FaceModel | None
        """Offer the new model's training folder, unless the user typed or chose a folder of their own.

        A checkpoint trained elsewhere (the bundled ones, a server's run) records a folder that may
        not exist here: the field then stays empty and says where the model was trained.
        """
        if self.folder() and self.folder() != self._offered:
            return
        default = run_data_folder(model) if model is not None else ""
        self._offered = default if default and Path(default).is_dir() else ""
        self.folder_edit.setText(self._offered)
        if default and not self._offered:
            self.folder_edit.setPlaceholderText(f"Trained on {default}, which is not on this machine: "
                                                "choose a folder of real faces")
        else:
            self.folder_edit.setPlaceholderText(PLACEHOLDER)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of real faces", self.folder() or str(Path.home()))
        if folder:
            self.folder_edit.setText(folder)

    def _needs(self) -> bool:
        if self.session.model is None:
            self.session.report_error("No model", "Load a model first.")
            return False
        if not self.folder():
            self.session.report_error("No folder", "Choose a folder of real faces to compare with.")
            return False
        return True

    # ------------------------------------------------------------------ nearest faces
    def find_for_seed(self) -> Task | None:
        model = self.session.model
        if model is None:
            return self._needs() and None
        return self.show_nearest(model.decode(model.seeds_to_latents([self.seed_box.value()]))[0])

    def show_nearest(self, face: np.ndarray) -> Task | None:
        """Find the training faces closest to ``face`` (any face on screen) and show them with distances."""
        if not self._needs():
            return None
        self.nearest_status.setText("Indexing the folder (once) and searching...")
        face, folder, resolution = np.asarray(face, np.uint8), self.folder(), self.session.model.resolution
        self.query.set_faces(face[None], ncols=1)
        return self.jobs.submit("nearest", lambda _ctx: _nearest(face, folder, resolution),
                                on_result=self._on_nearest, on_error=self._on_nearest_error)

    def _on_nearest(self, result: tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]) -> None:
        self.nearest = result
        _face, images, distances, paths = result
        self.results.set_faces(images, ncols=len(images), labels=[f"{d:.2f}" for d in distances],
                               tooltips=[f"{p}\ndistance {d:.2f}" for p, d in zip(paths, distances, strict=True)])
        self.nearest_status.setText(f"closest: {Path(paths[0]).name} at {distances[0]:.2f}")

    def _on_nearest_error(self, message: str) -> None:
        self.nearest_status.setText("")
        self.session.report_error("Cannot search the folder", message)

    # ------------------------------------------------------------------ report
    def run_report(self) -> Task | None:
        if not self._needs():
            return None
        n = self.count_box.value()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.result_label.setText("Running...")
        model, folder = self.session.model, self.folder()
        return self.jobs.submit(
            "report", lambda ctx: memorisation_report(model, folder, n_generated=n, n_real=n, progress=ctx.progress,
                                                      cancel=ctx.cancel),
            on_result=self._on_report, on_progress=self._on_progress, on_error=self._on_report_error,
            on_finished=self._on_report_finished)

    def cancel_report(self) -> None:
        if self.jobs.is_busy("report"):
            self.jobs.cancel("report")
            self.result_label.setText("Cancelled")
            self._on_report_finished()  # a cancelled job reports nothing more

    def _on_progress(self, value: tuple) -> None:
        stage, done, total = value
        self.progress.setFormat(f"{stage} %p%")
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _on_report(self, report: MemorisationReport) -> None:
        self.report = report
        figures = report.as_dict()
        extra = "".join(f", {k} {v:.2f}" for k, v in report.extra.items() if isinstance(v, float))
        self.result_label.setText(
            f"Precision {figures['precision']:.2f} (generated faces that look like real ones), recall "
            f"{figures['recall']:.2f} (real faces the model covers), k = {report.k}{extra}.\n"
            f"{100 * report.copy_share:.1f}% of generated faces are closer to a training face than "
            f"{100 * (1 - report.quantile):.0f}% of held-out real faces are (about {100 * report.quantile:.0f}% "
            f"expected without copying). Map: {report.map_space}.")
        xy, generated = report.map_xy, report.map_generated
        self.real_points.setData(pos=xy[~generated])
        self.generated_points.setData(pos=xy[generated])

    def _on_report_error(self, message: str) -> None:
        self.result_label.setText("")
        self.session.report_error("Report failed", message)

    def _on_report_finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        self.jobs.shutdown(10_000)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)
