"""The live view of a training run: loss curves, the fixed-seed sample grid, progress/ETA and a log.

It only draws what it is sent (metric rows as plain dicts, grids as uint8 arrays), so a run
trained in this process and a run another process writes look the same.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import WaifuError
from ...core.io.export import save_png
from ..images import array_to_pixmap

_NOT_LOSSES = {"step", "total_steps", "epoch", "epochs", "images_seen", "images_per_sec", "eta_s", "time_s"}
_COLORS = ["#e6550d", "#3182bd", "#31a354", "#756bb1", "#e7298a", "#a6761d", "#17becf", "#7f7f7f"]


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


class TrainingView(QWidget):
    """Curves, sample grid, progress bar with epoch/speed/ETA, and the run's log."""

    sample_shown = Signal(int)  # step of the grid now on screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid: np.ndarray | None = None  # the sample grid on screen
        self.curves: dict[str, pg.PlotDataItem] = {}  # what the plot shows (smoothed when Smooth is on)
        self._raw_curves: dict[str, pg.PlotDataItem] = {}  # the raw values, faint, under smoothed curves
        self._paused = False
        self.last_row: dict[str, Any] = {}
        self._steps: list[float] = []
        self._losses: dict[str, list[float]] = {}
        self._build()
        self._redraw_timer = QTimer(self, singleShot=True, interval=100)  # coalesce fast metric bursts
        self._redraw_timer.timeout.connect(self._redraw)
        self.smooth_check.toggled.connect(self._redraw)
        self.log_check.toggled.connect(self._on_log_scale)

    def _build(self) -> None:
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        # Plain numbers: an SI scale ("loss (x0.001)") beside log-scale ticks ("5·10¹") read as nonsense.
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.smooth_check = QCheckBox("Smooth")
        self.smooth_check.setChecked(True)
        self.log_check = QCheckBox("Log scale")
        self.last_label = QLabel("")  # the newest raw values: smoothing lags behind them
        self.last_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        plot_col = QVBoxLayout()
        plot_col.addWidget(self.plot, 1)
        checks = QHBoxLayout()
        checks.addWidget(self.smooth_check)
        checks.addWidget(self.log_check)
        checks.addStretch(1)
        checks.addWidget(self.last_label)
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

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top, 1)
        layout.addLayout(prog)
        layout.addWidget(self.log_view)

    def _on_log_scale(self, on: bool) -> None:
        self.plot.setLogMode(False, on)

    # ------------------------------------------------------------------ public
    def reset(self) -> None:
        """Forget the curves, grid and progress of the previous run."""
        self._steps, self._losses, self.last_row = [], {}, {}
        for curve in [*self.curves.values(), *self._raw_curves.values()]:
            self.plot.removeItem(curve)
        self.legend.clear()
        self.curves, self._raw_curves = {}, {}
        self.progress.setFormat("starting...")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.epoch_label.setText("epoch -")
        self.speed_label.setText("- img/s")
        self.eta_label.setText("ETA --")
        self.last_label.setText("")
        self.grid_label.setText("Samples (seeds 0-63): none yet")
        self._paused = False

    def set_paused(self, paused: bool) -> None:
        """While paused the ETA is not counting down: say so instead of showing a stale time."""
        self._paused = paused
        if paused:
            self.eta_label.setText("ETA paused")
        elif self.last_row:
            self._update_progress(self.last_row)

    def show_training_started(self, step: int, total_steps: int) -> None:
        """The faces are loaded and steps run: the bar counts steps from now on."""
        self.progress.setFormat("step %v / %m")
        self.progress.setRange(0, max(1, total_steps))
        self.progress.setValue(step)

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Append metric rows (a metrics.jsonl line each); redraws are coalesced."""
        for row in rows:
            n = len(self._steps)
            self._steps.append(float(row.get("step", n)))
            for key, value in row.items():
                if key not in _NOT_LOSSES and isinstance(value, (int, float)):
                    self._losses.setdefault(key, [math.nan] * n).append(float(value))
            for values in self._losses.values():
                if len(values) == n:
                    values.append(math.nan)
            self.last_row = row
        if rows:
            self._update_progress(self.last_row)
            if not self._redraw_timer.isActive():
                self._redraw_timer.start()

    def show_grid(self, grid: np.ndarray, step: int) -> None:
        self.grid = grid
        self.grid_view.set_image(grid)
        self.grid_label.setText(f"Samples (seeds 0-63) at step {step:,}")
        self.sample_shown.emit(step)

    def show_data_progress(self, done: int, total: int) -> None:
        self.progress.setFormat("loading faces %v / %m")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) a loss curve currently draws (tests)."""
        x, y = self.curves[name].getData()
        return (np.empty(0), np.empty(0)) if x is None else (x, y)

    def export_png(self, path: str | Path) -> Path:
        """Write the sample grid on screen as a PNG."""
        if self.grid is None:
            raise WaifuError("no sample grid yet: start or attach to a run first")
        return save_png(self.grid, path)

    def log(self, message: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {message}")

    # ------------------------------------------------------------------ drawing
    def _redraw(self, *_: Any) -> None:
        x = np.asarray(self._steps, float)
        smooth = self.smooth_check.isChecked()
        few = len(x) < 3  # a line needs two points: show dots too until there is a curve
        last = []
        for i, (name, values) in enumerate(self._losses.items()):
            colour = _COLORS[i % len(_COLORS)]
            curve = self.curves.get(name)
            if curve is None:  # one curve per loss term, created once
                raw = self._raw_curves[name] = self.plot.plot(pen=pg.mkPen(pg.mkColor(colour).lighter(100), width=1))
                raw.setOpacity(0.3)
                curve = self.curves[name] = self.plot.plot(name=name, pen=pg.mkPen(colour, width=2))
            y = np.asarray(values, float)
            curve.setData(x, ema_smooth(y) if smooth else y, connect="finite", symbol="o" if few else None,
                          symbolSize=6, symbolBrush=colour)
            self._raw_curves[name].setData(x, y, connect="finite")
            self._raw_curves[name].setVisible(smooth)
            finite = y[np.isfinite(y)]
            if len(finite):
                last.append(f"{name} {finite[-1]:.4g}")
        self.last_label.setText(("last: " + ", ".join(last)) if last else "")
        if few and len(x):  # a lone point would get a range around zero (-400..500): show 0..newest step
            self.plot.setXRange(0, max(1.0, float(x[-1])), padding=0.02)
        else:
            self.plot.enableAutoRange(x=True)

    def _update_progress(self, row: dict[str, Any]) -> None:
        total = int(row.get("total_steps", 0)) or 1
        self.progress.setFormat("step %v / %m")
        self.progress.setRange(0, total)
        self.progress.setValue(int(row.get("step", 0)))
        self.epoch_label.setText(f"epoch {int(row.get('epoch', 0)) + 1}/{row.get('epochs', '?')}")
        self.speed_label.setText(f"{float(row.get('images_per_sec', 0)):,.0f} img/s")
        eta = "paused" if self._paused else format_eta(float(row.get("eta_s", math.inf)))
        self.eta_label.setText(f"ETA {eta}")
