"""The Training panel: pick faces and a model, train it live, or watch a run the CLI is writing.

All heavy work runs elsewhere: training in :class:`TrainingController`'s thread, data scans,
run-folder polls and GIF export in ``start_task``. The panel only draws plain data it is sent.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEventLoop, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.config import (
    FAMILIES,
    GAN_FAMILIES,
    KL_SCHEDULES,
    PRECISIONS,
    RESOLUTIONS,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from ...core.data import FaceDataset, SkippedFile, load_dataset
from ...core.devices import available_devices
from ...core.errors import WaifuError
from ...core.export import make_grid, save_gif, save_png
from ..images import array_to_pixmap
from ..session import Session
from ..workers import Task, start_task
from .training_worker import RunFolderState, RunFolderUpdate, TrainingController, load_sample_grids, poll_run_folder

# name, label, kind, families (None: every family), (min, max) or choices, decimals
_FIELDS: list[tuple[str, str, str, tuple[str, ...] | None, Any, int]] = [
    ("resolution", "Resolution", "choice", None, RESOLUTIONS, 0),
    ("latent_dim", "Latent dim", "int", None, (2, 4096), 0),
    ("width", "Width", "int", None, (4, 1024), 0),
    ("epochs", "Epochs", "int", None, (1, 100_000), 0),
    ("max_steps", "Max steps", "int", None, (0, 100_000_000), 0),
    ("batch_size", "Batch size", "int", None, (2, 8192), 0),
    ("lr", "Learning rate", "float", None, (1e-6, 1.0), 6),
    ("lr_d", "D learning rate", "float", GAN_FAMILIES, (1e-6, 1.0), 6),
    ("kl_beta", "KL beta", "float", ("vae",), (0.0, 1000.0), 3),
    ("kl_schedule", "KL schedule", "choice", ("vae",), KL_SCHEDULES, 0),
    ("kl_warmup_steps", "KL warm-up steps", "int", ("vae",), (0, 10_000_000), 0),
    ("real_label", "Real label target", "float", ("dcgan",), (0.0, 1.0), 2),
    ("fake_label", "Fake label target", "float", ("dcgan",), (0.0, 1.0), 2),
    ("n_critic", "Critic steps (n_critic)", "int", ("wgan-gp",), (1, 100), 0),
    ("gp_weight", "GP weight", "float", ("wgan-gp",), (0.0, 1000.0), 2),
    ("ema_decay", "EMA decay", "float", GAN_FAMILIES, (0.0, 0.99999), 5),
    ("sample_every", "Sample every (steps)", "int", None, (1, 10_000_000), 0),
    ("log_every", "Log every (steps)", "int", None, (1, 1_000_000), 0),
    ("precision", "Precision", "choice", None, PRECISIONS, 0),
]
_MODEL_FIELDS = ("resolution", "latent_dim", "width")
_FAMILY_FIELDS = ("epochs", "lr", "lr_d")  # the settings TrainConfig.for_family changes per family
_NOT_LOSSES = {"step", "total_steps", "epoch", "epochs", "images_seen", "images_per_sec", "eta_s", "time_s"}
_COLORS = ["#e6550d", "#3182bd", "#31a354", "#756bb1", "#e7298a", "#a6761d", "#17becf", "#7f7f7f"]
GUI_SAMPLE_EVERY = 100  # the CLI's 500 leaves a live view without a new face for minutes on a CPU


def format_eta(seconds: float) -> str:
    """h:mm:ss, or "--" when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def ema_smooth(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """TensorBoard-style EMA with bias correction; NaN gaps keep the last value."""
    out = np.empty_like(values)
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if math.isfinite(v):
            acc, norm = weight * acc + (1 - weight) * v, weight * norm + (1 - weight)
        out[i] = acc / norm if norm else np.nan
    return out


@dataclass
class ScanResult:
    stamp: int  # which scan request this answers (the newest wins)
    dataset: FaceDataset | None = None
    strip: np.ndarray | None = None  # a row of real faces from the set
    error: str = ""


def scan_dataset(config: DataConfig, stamp: int, progress: Any = None, cancel: Any = None) -> ScanResult:
    """Load (and cache) the faces ``config`` names and pick ~12 of them for a preview strip."""
    try:
        dataset = load_dataset(config, progress=lambda d, t: progress((stamp, d, t)) if progress else None,
                               cancel=cancel)
    except WaifuError as err:
        return ScanResult(stamp, error=str(err))
    pick = np.unique(np.linspace(0, len(dataset) - 1, min(12, len(dataset))).round().astype(int))
    return ScanResult(stamp, dataset, make_grid(dataset.images[pick], ncols=len(pick), padding=1))


def write_timelapse(run_dir: Path, path: Path) -> Path:
    return save_gif(load_sample_grids(run_dir), path, duration_ms=150, pingpong=False)


class GridView(QLabel):
    """Shows an image scaled to fit: whole-pixel nearest scaling, so faces stay crisp."""

    def __init__(self, min_side: int = 256) -> None:
        super().__init__()
        self._source: QPixmap | None = None
        self.setMinimumSize(min_side, min_side)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, image: np.ndarray) -> None:
        self._source = array_to_pixmap(image)
        self._rescale()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._source is None:
            return
        w, h = self._source.width(), self._source.height()
        fit = min(self.width() / w, self.height() / h)
        # Nearest when enlarging (crisp pixels), smooth when shrinking (no aliasing).
        mode = Qt.TransformationMode.FastTransformation if fit >= 1 else Qt.TransformationMode.SmoothTransformation
        self.setPixmap(self._source.scaled(max(1, int(w * fit)), max(1, int(h * fit)),
                                           Qt.AspectRatioMode.KeepAspectRatio, mode))


class TrainingPanel(QWidget):
    """Data set, model form, Start/Pause/Stop, live loss curves and sample grid, run-folder watching."""

    sample_shown = Signal(int)  # step of the grid now on screen
    training_finished = Signal()  # the training thread is over (done, stopped or failed)
    dataset_scanned = Signal(object)  # FaceDataset
    timelapse_written = Signal(object)  # Path

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = TrainingController(self)
        self.dataset: FaceDataset | None = None
        self.run_dir: Path | None = None
        self.details_dialog: QDialog | None = None
        self._folder: str | None = None
        self._grid: np.ndarray | None = None
        self._steps: list[float] = []
        self._losses: dict[str, list[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._last_row: dict[str, Any] = {}
        self._scan_task: Task | None = None
        self._scan_stamp = 0
        self._poll_task: Task | None = None
        self._watch = RunFolderState()
        self._tasks: list[Task] = []
        self._shown_once = False
        self._build()
        self._wire()
        self._on_family_changed()
        self._set_state("idle")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        data_box = QGroupBox("Faces")
        self.builtin_radio = QRadioButton("Built-in demo faces")
        self.folder_radio = QRadioButton("Folder")
        self.builtin_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.builtin_radio)
        group.addButton(self.folder_radio)
        self.builtin_count = QSpinBox(minimum=16, maximum=100_000, value=DataConfig.builtin_count, singleStep=256)
        self.folder_button = QPushButton("Choose...")
        self.folder_label = QLabel("no folder chosen")
        self.folder_label.setWordWrap(True)
        self.summary_label = QLabel("")
        self.details_button = QPushButton("Details...")
        self.strip = GridView(min_side=24)
        self.strip.setMinimumHeight(28)
        self.strip.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.strip.setFixedHeight(30)
        dl = QGridLayout(data_box)
        dl.addWidget(self.builtin_radio, 0, 0)
        dl.addWidget(self.builtin_count, 0, 1)
        dl.addWidget(self.folder_radio, 1, 0)
        dl.addWidget(self.folder_button, 1, 1)
        dl.addWidget(self.folder_label, 2, 0, 1, 2)
        dl.addWidget(self.summary_label, 3, 0)
        dl.addWidget(self.details_button, 3, 1)
        dl.addWidget(self.strip, 4, 0, 1, 2)

        model_box = QGroupBox("Model and training")
        self.form = QFormLayout(model_box)
        self.form.setVerticalSpacing(3)
        self.family_combo = QComboBox()
        self.family_combo.addItems(FAMILIES)
        self.form.addRow("Family", self.family_combo)
        self.fields: dict[str, QWidget] = {}
        for name, label, kind, _fams, bounds, decimals in _FIELDS:
            if kind == "choice":
                widget: QWidget = QComboBox()
                widget.addItems([str(c) for c in bounds])
            elif kind == "int":
                widget = QSpinBox(minimum=bounds[0], maximum=bounds[1])
            else:
                widget = QDoubleSpinBox(minimum=bounds[0], maximum=bounds[1], decimals=decimals)
                widget.setSingleStep(10 ** -decimals if decimals > 2 else 0.1)
            self.fields[name] = widget
            self.form.addRow(label, widget)
        self.fields["max_steps"].setSpecialValueText("no limit")
        self.device_combo = QComboBox()
        for value, text in available_devices():
            self.device_combo.addItem(text, value)
        self.form.addRow("Device", self.device_combo)
        self.run_dir_edit = QLineEdit()
        self.run_dir_edit.setPlaceholderText("~/WaifuStudio/runs/<family>-<time>")
        self.run_dir_button = QPushButton("...")
        self.run_dir_button.setFixedWidth(32)
        row = QHBoxLayout()
        row.addWidget(self.run_dir_edit)
        row.addWidget(self.run_dir_button)
        self.form.addRow("Run folder", row)
        self._set_defaults()

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume run...")
        self.attach_button = QPushButton("Attach to run folder...")
        self.attach_button.setCheckable(True)
        self.gif_button = QPushButton("Export timelapse GIF...")
        buttons = QGridLayout()
        buttons.addWidget(self.start_button, 0, 0)
        buttons.addWidget(self.pause_button, 0, 1)
        buttons.addWidget(self.stop_button, 0, 2)
        buttons.addWidget(self.resume_button, 1, 0)
        buttons.addWidget(self.attach_button, 1, 1, 1, 2)
        buttons.addWidget(self.gif_button, 2, 0, 1, 3)

        left_inner = QWidget()
        ll = QVBoxLayout(left_inner)
        ll.addWidget(data_box)
        ll.addWidget(model_box)
        ll.addLayout(buttons)
        ll.addStretch(1)
        left = QScrollArea()
        left.setWidget(left_inner)
        left.setWidgetResizable(True)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left.setFixedWidth(370)

        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.smooth_check = QCheckBox("Smooth")
        self.smooth_check.setChecked(True)
        self.log_check = QCheckBox("Log scale")
        plot_col = QVBoxLayout()
        plot_col.addWidget(self.plot, 1)
        checks = QHBoxLayout()
        checks.addWidget(self.smooth_check)
        checks.addWidget(self.log_check)
        checks.addStretch(1)
        plot_col.addLayout(checks)
        self.grid_view = GridView(min_side=300)
        self.grid_label = QLabel("Samples (seeds 0-63): none yet")
        grid_col = QVBoxLayout()
        grid_col.addWidget(self.grid_label)
        grid_col.addWidget(self.grid_view, 1)
        top = QHBoxLayout()
        top.addLayout(plot_col, 1)
        top.addLayout(grid_col, 1)

        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.epoch_label, self.speed_label, self.eta_label = QLabel("epoch -"), QLabel("- img/s"), QLabel("ETA --")
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        for label in (self.epoch_label, self.speed_label, self.eta_label):
            label.setMinimumWidth(90)
            prog.addWidget(label)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setFixedHeight(120)

        right = QVBoxLayout()
        right.addLayout(top, 1)
        right.addLayout(prog)
        right.addWidget(self.log_view)
        main = QHBoxLayout(self)
        main.addWidget(left)
        main.addLayout(right, 1)

        self._redraw_timer = QTimer(self, singleShot=True, interval=100)  # coalesce fast metric bursts
        self._scan_timer = QTimer(self, singleShot=True, interval=300)  # debounce form edits
        self._watch_timer = QTimer(self, interval=2000)

    def _wire(self) -> None:
        c = self.controller
        # Bound methods, never lambdas: PySide6 runs a lambda in the emitting thread, a QObject's
        # method in the thread the object lives in (here the GUI thread).
        c.metrics.connect(self._on_metrics)
        c.sample.connect(self._on_sample)
        c.checkpoint.connect(self._on_checkpoint)
        c.log.connect(self.log)
        c.failed.connect(self._on_failed)
        c.done.connect(self._on_done)
        c.finished.connect(self._on_finished)
        c.data_progress.connect(self._on_data_progress)
        c.run_config.connect(self._apply_config)
        c.history.connect(self._add_rows)
        self.family_combo.currentTextChanged.connect(self._on_family_changed)
        self.builtin_radio.toggled.connect(self._schedule_scan)
        self.builtin_count.valueChanged.connect(self._schedule_scan)
        self.fields["resolution"].currentTextChanged.connect(self._schedule_scan)
        self.folder_button.clicked.connect(self._choose_folder)
        self.details_button.clicked.connect(self.show_skipped_details)
        self.run_dir_button.clicked.connect(self._choose_run_dir)
        self.start_button.clicked.connect(self.start_training)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button.clicked.connect(self.stop_training)
        self.resume_button.clicked.connect(self._choose_resume)
        self.attach_button.clicked.connect(self._on_attach_clicked)
        self.gif_button.clicked.connect(self._choose_gif)
        self.smooth_check.toggled.connect(self._redraw)
        self.log_check.toggled.connect(self._on_log_scale)
        self._redraw_timer.timeout.connect(self._redraw)
        self._scan_timer.timeout.connect(self.scan)
        self._watch_timer.timeout.connect(self._poll)

    def _schedule_scan(self, *_: Any) -> None:
        self._scan_timer.start()

    def _on_log_scale(self, on: bool) -> None:
        self.plot.setLogMode(False, on)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._shown_once:  # scan lazily: a hidden panel costs nothing
            self._shown_once = True
            self._scan_timer.start()

    # ------------------------------------------------------------------ form
    def _set_defaults(self) -> None:
        model, train = ModelConfig("ae"), TrainConfig.for_family("ae", sample_every=GUI_SAMPLE_EVERY)
        for name in self.fields:
            self.set_field(name, getattr(model if name in _MODEL_FIELDS else train, name))

    def set_field(self, name: str, value: Any) -> None:
        """Set one form field (tests, resumed runs)."""
        widget = self.fields[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        else:
            widget.setValue(value)  # type: ignore[attr-defined]

    def field_value(self, name: str) -> Any:
        widget = self.fields[name]
        if isinstance(widget, QComboBox):
            text = widget.currentText()
            return int(text) if name == "resolution" else text
        return widget.value()  # type: ignore[attr-defined]

    def _on_family_changed(self, *_: Any) -> None:
        family = self.family_combo.currentText()
        defaults = TrainConfig.for_family(family)
        for name in _FAMILY_FIELDS:
            self.set_field(name, getattr(defaults, name))
        for name, _label, _kind, families, _b, _d in _FIELDS:
            self.form.setRowVisible(self.fields[name], families is None or family in families)
        gan = family in GAN_FAMILIES
        self.form.labelForField(self.fields["lr"]).setText("G learning rate" if gan else "Learning rate")
        self.form.labelForField(self.fields["lr_d"]).setText("Critic learning rate" if family == "wgan-gp"
                                                             else "D learning rate")

    def run_config(self) -> RunConfig:
        """The RunConfig the form describes (ConfigError if a value is invalid)."""
        family = self.family_combo.currentText()
        values = {name: self.field_value(name) for name in self.fields}
        model = ModelConfig(family, **{k: values.pop(k) for k in _MODEL_FIELDS})
        train = TrainConfig.for_family(family, device=self.device_combo.currentData(), **values)
        return RunConfig(model, train, self._data_config(model.resolution))

    def _data_config(self, resolution: int | None = None) -> DataConfig:
        source = "builtin" if self.builtin_radio.isChecked() or not self._folder else self._folder
        return DataConfig(source=source, resolution=resolution or self.field_value("resolution"),
                          builtin_count=self.builtin_count.value())

    def _apply_config(self, config: RunConfig) -> None:
        self.family_combo.setCurrentText(config.model.family)  # first: it resets the family defaults
        for name in self.fields:
            self.set_field(name, getattr(config.model if name in _MODEL_FIELDS else config.train, name))

    # ------------------------------------------------------------------ data set
    def set_dataset_folder(self, path: str | Path) -> None:
        """Train on the faces under ``path`` (scanned in the background)."""
        self._folder = str(Path(path))
        self.folder_label.setText(self._folder)
        self.folder_radio.setChecked(True)
        self._scan_timer.start()

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of face images", self._folder or str(Path.home()))
        if path:
            self.set_dataset_folder(path)

    def scan(self) -> Task | None:
        """Scan the chosen faces now; the newest scan wins."""
        if self.folder_radio.isChecked() and not self._folder:
            self.summary_label.setText("choose a folder")
            return None
        if self._scan_task is not None:
            self._scan_task.cancel()
        self._scan_stamp += 1
        stamp = self._scan_stamp
        self.summary_label.setText("scanning...")
        self.details_button.setEnabled(False)
        self._scan_task = start_task(scan_dataset, self._data_config(), stamp, on_result=self._on_scanned,
                                     on_progress=self._on_scan_progress)
        return self._scan_task

    def _on_scan_progress(self, progress: tuple[int, int, int]) -> None:
        stamp, done, total = progress
        if stamp == self._scan_stamp:
            self.summary_label.setText(f"scanning... {done:,}/{total:,}")

    def _on_scanned(self, result: ScanResult) -> None:
        if result.stamp != self._scan_stamp:
            return  # a newer scan is on its way
        if result.error or result.dataset is None or result.strip is None:
            self.summary_label.setText("no usable faces")
            self.session.report_error("Cannot use these faces", result.error)
            return
        self.dataset = ds = result.dataset
        self.summary_label.setText(f"{len(ds):,} faces, {len(ds.skipped):,} skipped")
        self.summary_label.setToolTip(ds.summary())
        self.details_button.setEnabled(bool(ds.skipped))
        self.strip.set_image(result.strip)
        self.log(f"faces: {ds.summary()} ({ds.source})")
        self.dataset_scanned.emit(ds)

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

    def resume_run(self, run_dir: str | Path) -> None:
        """Continue the run in ``run_dir`` from its last checkpoint."""
        self._auto_run_dir = False
        self._begin(Path(run_dir))
        self.log(f"resuming {run_dir}")
        self.controller.resume(run_dir)

    def _begin(self, run_dir: Path) -> None:
        self.detach()
        self._reset_view()
        self.run_dir = run_dir
        self._set_state("training")

    def stop_training(self) -> None:
        if self.controller.is_running():
            self.controller.stop()
            self.stop_button.setEnabled(False)
            self.pause_button.setEnabled(False)
            self.log("stopping: saving a checkpoint...")

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
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
        """Stop cleanly (the trainer saves a checkpoint) and wait for the thread (window close)."""
        if not self.controller.is_running():
            return True
        self.controller.stop()
        return self.controller.wait(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Stop training, watching and background tasks (the main window's closeEvent)."""
        self.stop_and_wait()
        self.detach()
        tasks = [t for t in (self._scan_task, self._poll_task, *self._tasks) if t is not None and t.is_running()]
        for task in tasks:
            task.cancel()
        # start_task queues thread.quit to this thread, so a plain wait() would only time out: let events run.
        deadline = time.monotonic() + 5
        while any(t.is_running() for t in tasks) and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def _on_metrics(self, metrics: Any) -> None:
        self._add_rows([metrics.to_json()])

    def _on_sample(self, step: int, faces: np.ndarray) -> None:
        self._show_grid(make_grid(faces, ncols=8), step)

    def _on_checkpoint(self, path: str, step: int) -> None:
        self.session.set_training_checkpoint(Path(path))
        self.log(f"checkpoint at step {step}: {path}")

    def _on_failed(self, message: str) -> None:
        self.log(f"error: {message}")
        self.session.report_error("Training stopped", message)

    def _on_done(self, result: Any) -> None:
        state = "stopped" if result.stopped else "finished"
        self.session.status_message.emit(f"Training {state} at step {result.steps}")

    def _on_finished(self) -> None:
        if getattr(self, "_auto_run_dir", False):
            self.run_dir_edit.clear()  # the next Start gets a fresh timestamped folder
        self._set_state("idle")
        self.training_finished.emit()

    def _on_data_progress(self, done: int, total: int) -> None:
        self.progress.setFormat("loading faces %v / %m")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _set_state(self, state: str) -> None:
        idle, training, attached = state == "idle", state == "training", state == "attached"
        self._state = state
        for widget in (self.start_button, self.resume_button):
            widget.setEnabled(idle)
        self.attach_button.setEnabled(not training)
        self.attach_button.setChecked(attached)
        self.attach_button.setText("Detach from run folder" if attached else "Attach to run folder...")
        self.stop_button.setEnabled(training)
        self.pause_button.setEnabled(training)
        if not training:
            self.pause_button.setChecked(False)
        for widget in (self.form.parentWidget(), self.folder_button, self.builtin_radio, self.folder_radio,
                       self.builtin_count):
            widget.setEnabled(idle)
        self.gif_button.setEnabled(self.run_dir is not None)

    # ------------------------------------------------------------------ curves, grid, progress
    def _reset_view(self) -> None:
        self._steps, self._losses, self._last_row = [], {}, {}
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        self.legend.clear()
        self._curves = {}
        self.progress.setFormat("step %v / %m")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def _add_rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            n = len(self._steps)
            self._steps.append(float(row.get("step", n)))
            for key, value in row.items():
                if key not in _NOT_LOSSES and isinstance(value, (int, float)):
                    self._losses.setdefault(key, [math.nan] * n).append(float(value))
            for values in self._losses.values():
                if len(values) == n:
                    values.append(math.nan)
            self._last_row = row
        if rows:
            self._update_progress(self._last_row)
            if not self._redraw_timer.isActive():
                self._redraw_timer.start()

    def _redraw(self, *_: Any) -> None:
        x = np.asarray(self._steps, float)
        for i, (name, values) in enumerate(self._losses.items()):
            curve = self._curves.get(name)
            if curve is None:  # one curve per loss term, created once
                curve = self._curves[name] = self.plot.plot(name=name, pen=pg.mkPen(_COLORS[i % len(_COLORS)],
                                                                                     width=2))
            y = np.asarray(values, float)
            curve.setData(x, ema_smooth(y) if self.smooth_check.isChecked() else y, connect="finite")

    def _update_progress(self, row: dict[str, Any]) -> None:
        total = int(row.get("total_steps", 0)) or 1
        self.progress.setFormat("step %v / %m")
        self.progress.setRange(0, total)
        self.progress.setValue(int(row.get("step", 0)))
        self.epoch_label.setText(f"epoch {int(row.get('epoch', 0)) + 1}/{row.get('epochs', '?')}")
        self.speed_label.setText(f"{float(row.get('images_per_sec', 0)):,.0f} img/s")
        self.eta_label.setText(f"ETA {format_eta(float(row.get('eta_s', math.inf)))}")

    def _show_grid(self, grid: np.ndarray, step: int) -> None:
        self._grid = grid
        self.grid_view.set_image(grid)
        self.grid_label.setText(f"Samples (seeds 0-63) at step {step:,}")
        self.sample_shown.emit(step)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) a loss curve currently draws (tests)."""
        x, y = self._curves[name].getData()
        return (np.empty(0), np.empty(0)) if x is None else (x, y)

    def export_png(self, path: str | Path) -> Path:
        """Write the sample grid on screen as a PNG."""
        if self._grid is None:
            raise WaifuError("no sample grid yet: start or attach to a run first")
        return save_png(self._grid, path)

    def log(self, message: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {message}")

    # ------------------------------------------------------------------ watching a run folder
    def attach_run(self, run_dir: str | Path) -> None:
        """Watch a run another process writes (CLI, torchrun): curves, grid and checkpoint, read-only."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            self.session.report_error("Cannot attach", f"not a folder: {run_dir}")
            self._set_state(self._state)
            return
        self.detach()
        self._reset_view()
        self.run_dir, self._watch = run_dir, RunFolderState()
        self._set_state("attached")
        self.log(f"watching {run_dir}")
        self._watch_timer.start()
        self._poll()

    def detach(self) -> None:
        if self._watch_timer.isActive():
            self._watch_timer.stop()
            self.log("stopped watching")
        if self._state == "attached":
            self._set_state("idle")

    def _poll(self) -> None:
        if self._poll_task is not None and self._poll_task.is_running():
            return  # a slow disk: skip this tick rather than queue reads
        self._poll_task = start_task(poll_run_folder, self.run_dir, self._watch, on_result=self._on_polled)

    def _on_polled(self, update: RunFolderUpdate) -> None:
        if self._state != "attached" or update.run_dir != self.run_dir:
            return  # detached meanwhile
        self._watch = update.state
        if update.restarted:
            self._reset_view()
        self._add_rows(update.rows)
        if update.sample is not None:
            self._show_grid(update.sample, update.sample_step)
        if update.checkpoint is not None:
            self._on_checkpoint(str(update.checkpoint), int(self._last_row.get("step", 0)))

    def _on_attach_clicked(self, checked: bool) -> None:
        if not checked:
            self.detach()
            return
        path = QFileDialog.getExistingDirectory(self, "Run folder to watch", str(Path.home() / "WaifuStudio" / "runs"))
        if path:
            self.attach_run(path)
        else:
            self.attach_button.setChecked(False)

    # ------------------------------------------------------------------ dialogs and export
    def _choose_run_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the new run", str(Path.home()))
        if path:
            self.run_dir_edit.setText(path)

    def _choose_resume(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Run folder to resume", str(Path.home() / "WaifuStudio" / "runs"))
        if path:
            self.resume_run(path)

    def export_timelapse(self, path: str | Path) -> Task | None:
        """All sample grids of the current run as an animated GIF at ``path`` (in the background)."""
        if self.run_dir is None:
            self.session.report_error("Cannot export", "no run yet: start, resume or attach to a run first")
            return None
        task = start_task(write_timelapse, self.run_dir, Path(path), on_result=self._on_timelapse,
                          on_error=self._on_timelapse_failed)
        self._tasks = [t for t in self._tasks if t.is_running()] + [task]
        return task

    def _on_timelapse(self, path: Path) -> None:
        self.log(f"timelapse written: {path}")
        self.session.status_message.emit(f"Timelapse GIF: {path}")
        self.timelapse_written.emit(path)

    def _on_timelapse_failed(self, message: str) -> None:
        self.session.report_error("Timelapse export failed", message)

    def _choose_gif(self) -> None:
        default = str((self.run_dir or Path.home()) / "timelapse.gif")
        path, _ = QFileDialog.getSaveFileName(self, "Export timelapse GIF", default, "GIF (*.gif)")
        if path:
            self.export_timelapse(path)
