"""The Training panel: pick faces and a model, train it live, resume a run, or watch a run the CLI writes.

The panel wires three parts and the run controls: the Faces box (:mod:`.training_data`), the
model form (:mod:`.training_form`) and the live view (:mod:`.training_view`). All heavy work
runs elsewhere: training in :class:`TrainingController`'s thread, data scans, run-folder reads
and polls and GIF export as the panel's ``Jobs``. The panel only draws plain data it is sent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from ...core.config import RunConfig
from ...core.data import FaceDataset
from ...core.errors import WaifuError
from ...core.io.export import make_grid
from ...core.training import read_run_config
from ..dialogs import ask_folder, ask_save_path
from ..session import Session
from ..workers import Jobs, Task
from .training_controls import RunControls
from .training_data import FacesBox, ScanResult, scan_dataset
from .training_form import RunForm
from .training_run_folder import ResumeInfo, RunFolderUpdate, RunFolderWatcher, read_resume_info, write_timelapse
from .training_view import GridView, TrainingView, ema_smooth, format_eta
from .training_worker import TrainingController

__all__ = ["GridView", "ScanResult", "TrainingPanel", "ema_smooth", "format_eta", "scan_dataset",
           "write_timelapse"]


class TrainingPanel(QWidget):
    """Data set, model form, Start/Pause/Stop/Resume, live loss curves and sample grid, run-folder watching."""

    sample_shown = Signal(int)  # step of the grid now on screen
    training_finished = Signal()  # the training thread is over (done, stopped or failed)
    dataset_scanned = Signal(object)  # FaceDataset
    timelapse_written = Signal(object)  # Path
    resume_ready = Signal(object)  # Path: a run's settings are in the form, waiting for "Resume training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = TrainingController(self)
        self.run_dir: Path | None = None
        self._resume_dir: Path | None = None  # the run the "resume" state continues
        self._refused: tuple[Path, str] | None = None  # a resume with nothing to train: back to "resume"
        self._auto_run_dir = False
        self.jobs = Jobs(self)
        self._shown_once = False
        self._state = "idle"
        self._build()
        self._wire()
        self._set_state("idle")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.form = RunForm()
        self.faces = FacesBox(self.form.field_value("resolution"), self.session.settings)
        # The parts' controls, under the names the panel always had (tests, main window).
        self.builtin_radio, self.folder_radio = self.faces.builtin_radio, self.faces.folder_radio
        self.builtin_count, self.summary_label = self.faces.builtin_count, self.faces.summary_label
        self.details_button = self.faces.details_button
        self.family_combo, self.fields = self.form.family_combo, self.form.fields
        self.device_combo, self.run_dir_edit = self.form.device_combo, self.form.run_dir_edit

        self.controls = c = RunControls()
        self.start_button, self.pause_button, self.stop_button = c.start_button, c.pause_button, c.stop_button
        self.resume_button, self.attach_button, self.gif_button = c.resume_button, c.attach_button, c.gif_button
        self.resume_label = c.resume_label

        left_inner = QWidget()
        ll = QVBoxLayout(left_inner)
        ll.addWidget(self.faces)
        ll.addWidget(self.form)
        ll.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(left_inner)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The run buttons stay below the scrolling settings: Start is never scrolled out of sight.
        left = QWidget()
        left.setFixedWidth(370)
        left_column = QVBoxLayout(left)
        left_column.setContentsMargins(0, 0, 0, 0)
        left_column.addWidget(scroll, 1)
        left_column.addWidget(self.controls)

        self.view = TrainingView()
        self.plot, self.progress, self.grid_view = self.view.plot, self.view.progress, self.view.grid_view
        self.log_view = self.view.log_view
        main = QHBoxLayout(self)
        main.addWidget(left)
        main.addWidget(self.view, 1)
        self.watcher = RunFolderWatcher(self)

    def _wire(self) -> None:
        c = self.controller
        # Bound methods, never lambdas: PySide6 runs a lambda in the emitting thread, a QObject's
        # method in the thread the object lives in (here the GUI thread).
        c.metrics.connect(self._on_metrics)
        c.sample.connect(self._on_sample)
        c.checkpoint.connect(self._on_checkpoint)
        c.log.connect(self.log)
        c.failed.connect(self._on_failed)
        c.refused.connect(self._on_refused)
        c.done.connect(self._on_done)
        c.finished.connect(self._on_finished)
        c.data_progress.connect(self.view.show_data_progress)
        c.training_started.connect(self.view.show_training_started)
        c.run_config.connect(self.form.apply_config)
        c.history.connect(self.view.add_rows)
        self.view.sample_shown.connect(self.sample_shown)
        self.faces.dataset_scanned.connect(self._on_dataset_scanned)
        self.faces.scan_failed.connect(self._on_scan_failed)
        self.faces.usable_changed.connect(lambda _usable: self._set_state(self._state))
        self.form.resolution_changed.connect(self.faces.set_resolution)
        self.start_button.clicked.connect(self._on_start_clicked)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button.clicked.connect(self.stop_training)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.attach_button.clicked.connect(self._on_attach_clicked)
        self.gif_button.clicked.connect(self._choose_gif)
        self.watcher.updated.connect(self._on_polled)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._shown_once:  # scan lazily: a hidden panel costs nothing
            self._shown_once = True
            self.faces.schedule_scan()

    # ------------------------------------------------------------------ the parts, as the panel's API
    @property
    def dataset(self) -> FaceDataset | None:
        return self.faces.dataset

    @property
    def details_dialog(self) -> QDialog | None:
        return self.faces.details_dialog

    def set_field(self, name: str, value: Any) -> None:
        """Set one form field (tests, resumed runs)."""
        self.form.set_field(name, value)

    def field_value(self, name: str) -> Any:
        return self.form.field_value(name)

    def run_config(self) -> RunConfig:
        """The RunConfig the form and the Faces box describe (ConfigError if a value is invalid)."""
        model, train = self.form.configs()
        return RunConfig(model, train, self.form.data_config(self.faces.data_config(model.resolution)))

    def set_dataset_folder(self, path: str | Path) -> None:
        """Train on the faces under ``path`` (scanned in the background)."""
        self.faces.set_dataset_folder(path)

    def curve_names(self) -> list[str]:
        return list(self.view.curves)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) a loss curve currently draws (tests)."""
        return self.view.curve_data(name)

    def export_png(self, path: str | Path) -> Path:
        """Write the sample grid on screen as a PNG."""
        return self.view.export_png(path)

    def log(self, message: str) -> None:
        self.view.log(message)

    def _on_dataset_scanned(self, dataset: FaceDataset) -> None:
        self.log(f"faces: {dataset.summary()} ({dataset.source})")
        self.dataset_scanned.emit(dataset)

    def _on_scan_failed(self, message: str) -> None:
        self.session.report_error("Cannot use these faces", message)

    # ------------------------------------------------------------------ training control
    def start_training(self) -> None:
        """Start a new run with the form's settings."""
        try:
            config = self.run_config()
        except WaifuError as err:
            self.session.report_error("Cannot start training", str(err))
            return
        text = self.run_dir_edit.text().strip()
        run_dir = Path(text).expanduser() if text else \
            Path.home() / "WaifuStudio" / "runs" / f"{config.model.family}-{time.strftime('%Y%m%d-%H%M%S')}"
        self._auto_run_dir = not text
        self._begin(run_dir)
        self.log(f"new run: {run_dir}")
        self.controller.start(config, run_dir)

    def prepare_resume(self, run_dir: str | Path) -> Task:
        """Show a run's settings with Epochs and Max steps editable; "Resume training" then continues it."""
        return self.jobs.submit("resume info", lambda _ctx: read_resume_info(Path(run_dir)),
                                on_result=self._on_resume_info, on_error=self._on_resume_info_failed)

    def resume_run(self, run_dir: str | Path, **overrides: Any) -> None:
        """Continue the run in ``run_dir`` from its last checkpoint with ``overrides`` (epochs=, lr=...)."""
        self._auto_run_dir = False
        self._begin(Path(run_dir))
        more = ", ".join(f"{k} {v}" for k, v in overrides.items() if v is not None)
        self.log(f"resuming {run_dir}" + (f" ({more})" if more else ""))
        self.controller.resume(run_dir, **overrides)

    def cancel_resume(self) -> None:
        """Leave the "resume" state: the form is a new run's again (it keeps the run's settings)."""
        if self._state == "resume":
            self._set_state("idle")

    def _on_start_clicked(self) -> None:
        if self._state == "resume" and self._resume_dir is not None:
            self.resume_run(self._resume_dir, **self.form.resume_overrides())
        else:
            self.start_training()

    def _on_resume_info(self, info: ResumeInfo) -> None:
        if self._state not in ("idle", "resume"):
            return  # a run started (or a folder is watched) meanwhile
        self.form.apply_config(info.config)
        if info.steps is None:
            text = f"Resume {info.run_dir.name}: no readable checkpoint yet."
        else:
            text = (f"Resume {info.run_dir.name}: {info.steps:,} steps trained ({info.epochs_done:.4g} of "
                    f"{info.config.train.epochs:,} epochs). Raise Epochs to train it longer.")
        self._enter_resume(info.run_dir, text)

    def _on_resume_info_failed(self, message: str) -> None:
        self.session.report_error("Cannot resume", message)

    def _enter_resume(self, run_dir: Path, text: str) -> None:
        self._resume_dir = run_dir
        self._set_state("resume")
        self.resume_label.setText(text)
        self.log(text)
        self.resume_ready.emit(run_dir)

    def _begin(self, run_dir: Path) -> None:
        self.detach()
        self.view.reset()
        self.run_dir = run_dir
        self._refused = None
        self._set_state("training")

    def stop_training(self) -> None:
        if self.controller.is_running():
            self.controller.stop()
            self.stop_button.setEnabled(False)
            self.pause_button.setEnabled(False)
            self.log("stopping: saving a checkpoint...")

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.view.set_paused(paused and self.controller.is_running())
        if not self.controller.is_running():
            return
        if paused:
            self.controller.pause()
            self.log("paused")
        else:
            self.controller.unpause()
            self.log("resumed")

    def is_training(self) -> bool:
        return self.controller.is_running()

    def stop_and_wait(self, timeout_s: float = 10) -> bool:
        """Stop cleanly (the trainer saves a checkpoint) and block until the thread ends (last resort:
        the main window's close stops training without blocking and waits for :attr:`training_finished`)."""
        if not self.controller.is_running():
            return True
        self.controller.stop()
        return self.controller.wait(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Stop training, watching and background tasks (the main window's closeEvent)."""
        self.stop_and_wait()
        self.detach()
        for jobs in (self.faces.jobs, self.watcher.jobs, self.jobs):
            jobs.shutdown()

    def _on_metrics(self, metrics: Any) -> None:
        self.view.add_rows([metrics.to_json()])

    def _on_sample(self, step: int, faces: np.ndarray) -> None:
        self.view.show_grid(make_grid(faces, ncols=8), step)

    def _on_checkpoint(self, path: str, step: int) -> None:
        self.session.set_training_checkpoint(Path(path))
        self.log(f"checkpoint at step {step}: {path}")

    def _on_failed(self, message: str) -> None:
        self.log(f"error: {message}")
        self.session.report_error("Training stopped", message)

    def _on_refused(self, message: str) -> None:
        self.log(f"nothing to train: {message}")
        if self.run_dir is not None:
            self._refused = (self.run_dir, message)
        self.session.report_error("Nothing left to train", message)

    def _on_done(self, result: Any) -> None:
        state = "stopped" if result.stopped else "finished"
        self.session.status_message.emit(f"Training {state} at step {result.steps}")

    def _on_finished(self) -> None:
        if self._auto_run_dir:
            self.run_dir_edit.clear()  # the next Start gets a fresh timestamped folder
        refused, self._refused = self._refused, None
        if refused is not None:  # the form keeps the run's settings: raise Epochs and try again
            self._enter_resume(*refused)
        else:
            self._set_state("idle")
        self.training_finished.emit()

    def _set_state(self, state: str) -> None:
        """idle, training, attached or resume (see :mod:`.training_controls`)."""
        self._state = state
        if state != "resume":
            self._resume_dir = None
        self.controls.set_state(state, has_run=self.run_dir is not None)
        if state == "idle" and not self.faces.usable:  # it would start, then fail on the faces
            self.start_button.setEnabled(False)
        self.start_button.setToolTip("" if self.faces.usable or state != "idle" else
                                     "No usable faces: choose the built-in faces or a folder with face images")
        self.form.set_mode("edit" if state == "idle" else "resume" if state == "resume" else "locked")
        self.faces.set_editable(state == "idle")

    # ------------------------------------------------------------------ watching a run folder
    def attach_run(self, run_dir: str | Path) -> None:
        """Watch a run another process writes (CLI, torchrun): curves, grid and checkpoint, read-only."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            self.session.report_error("Cannot attach", f"not a folder: {run_dir}")
            self._set_state(self._state)
            return
        self.detach()
        self.view.reset()
        self.run_dir = run_dir
        self._set_state("attached")
        self.log(f"watching {run_dir}")
        self.watcher.start(run_dir)
        # The form shows the settings of the run being watched (read off the GUI thread).
        self.jobs.submit("attached config", lambda _ctx: read_run_config(run_dir), on_result=self._on_attached_config,
                         on_error=lambda message: self.log(f"settings not shown: {message}"))

    def _on_attached_config(self, config: RunConfig) -> None:
        if self._state == "attached":
            self.form.apply_config(config)

    def detach(self) -> None:
        if self.watcher.stop():
            self.log("stopped watching")
        if self._state == "attached":
            self._set_state("idle")

    def _on_polled(self, update: RunFolderUpdate) -> None:
        if self._state != "attached":
            return  # detached meanwhile
        if update.restarted:
            self.view.reset()
        self.view.add_rows(update.rows)
        if update.sample is not None:
            self.view.show_grid(update.sample, update.sample_step)
        if update.checkpoint is not None:
            self._on_checkpoint(str(update.checkpoint), int(self.view.last_row.get("step", 0)))

    def _on_attach_clicked(self, checked: bool) -> None:
        if not checked:
            self.detach()
            return
        path = ask_folder(self, self.session.settings, "run", "Run folder to watch")
        if path is not None:
            self.attach_run(path)
        else:
            self.attach_button.setChecked(False)

    # ------------------------------------------------------------------ dialogs and export
    def _on_resume_clicked(self) -> None:
        if self._state == "resume":
            self.cancel_resume()
            return
        path = ask_folder(self, self.session.settings, "run", "Run folder to resume")
        if path is not None:
            self.prepare_resume(path)

    def export_timelapse(self, path: str | Path) -> Task | None:
        """All sample grids of the current run as an animated GIF at ``path`` (in the background)."""
        if self.run_dir is None:
            self.session.report_error("Cannot export", "no run yet: start, resume or attach to a run first")
            return None
        run_dir = self.run_dir
        return self.jobs.submit(f"timelapse {path}", lambda _ctx: write_timelapse(run_dir, Path(path)),
                                on_result=self._on_timelapse, on_error=self._on_timelapse_failed)

    def _on_timelapse(self, path: Path) -> None:
        self.log(f"timelapse written: {path}")
        self.session.status_message.emit(f"Timelapse GIF: {path}")
        self.timelapse_written.emit(path)

    def _on_timelapse_failed(self, message: str) -> None:
        self.session.report_error("Timelapse export failed", message)

    def _choose_gif(self) -> None:
        path = ask_save_path(self, self.session.settings, "export", "Export timelapse GIF", "timelapse.gif",
                             "GIF (*.gif)", ".gif")
        if path is not None:
            self.export_timelapse(path)
