"""Timeline: scrub through a run's snapshots and watch its faces, one face, a morph and the losses evolve.

Takes a :class:`TimelineState` (Qt-free) and draws it. While the tab is shown, the run folder is
read again every few seconds in a worker, so a run that is still training (or a folder synced
from a server) grows while it is watched; when the newest snapshot is shown, the view follows new
ones. A hidden tab neither polls nor renders (following a training run from a hidden tab cost
about 100 MB of resident memory over the monkey test's training runs).
"""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.explore.timeline import SnapshotModels, TimelineFrame, export_timeline_gif, read_timeline, render_frame
from ...core.models.seeds import MAX_SEED
from ...state.timeline import TimelineState
from ..session import Session
from ..workers import Jobs, Task
from .face_grid import FaceGrid

POLL_MS = 3000  # how often the run folder is read again
PLAY_MS = 400  # time per snapshot when playing
_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4")


class TimelinePanel(QWidget):
    """The Timeline tab: run folder, scrubber with play, grid + face + morph + loss curve of one snapshot."""

    rendered = Signal()  # a snapshot's frame is drawn

    def __init__(self, session: Session, state: TimelineState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.state = state or TimelineState()
        self.models = SnapshotModels()
        self.shown: TimelineFrame | None = None
        self.jobs = Jobs(self)
        self._build()
        self.state.changed.connect(self._request)
        self.state.snapshots_changed.connect(self._on_snapshots)
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self.reload)
        self.player = QTimer(self)
        self.player.setInterval(PLAY_MS)
        self.player.timeout.connect(self._advance)
        session.training_checkpoint.connect(self._on_training_checkpoint)

    def _build(self) -> None:
        self.run_label = QLabel("No run folder: open one, or start training")
        self.open_button = QPushButton("Open run folder...")
        self.open_button.clicked.connect(self._ask_run)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self.state.show)
        self.step_label = QLabel("")
        self.step_label.setMinimumWidth(150)
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._on_play)
        self.export_button = QPushButton("Export GIF...")
        self.export_button.clicked.connect(self._ask_gif)
        self.face_seed = self._seed_box("Seed of the face followed through training", 0)
        self.morph_a = self._seed_box("Morph from this seed", 0)
        self.morph_b = self._seed_box("Morph to this seed", 1)
        self.face_seed.valueChanged.connect(lambda v: self.state.set_view(face_seed=v))
        self.morph_a.valueChanged.connect(lambda v: self.state.set_view(morph_seeds=(v, self.morph_b.value())))
        self.morph_b.valueChanged.connect(lambda v: self.state.set_view(morph_seeds=(self.morph_a.value(), v)))

        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.run_label, 1)
        top.addWidget(QLabel("Face seed"))
        top.addWidget(self.face_seed)
        top.addWidget(QLabel("Morph"))
        top.addWidget(self.morph_a)
        top.addWidget(self.morph_b)
        scrub = QHBoxLayout()
        scrub.addWidget(self.play_button)
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.step_label)
        scrub.addWidget(self.export_button)

        self.grid = FaceGrid(min_tile=40)
        self.face = FaceGrid(min_tile=96, max_tile=192)
        self.morph = FaceGrid(min_tile=32, max_tile=96)
        self.morph.setFixedHeight(110)
        for grid in (self.grid, self.face, self.morph):  # a model may be loaded; what is missing is a run
            grid.placeholder = "Open a run folder, or start training"
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)  # steps are counts: no "(x0.001)"
        self.plot.addLegend(offset=(-10, 10))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine))
        self.plot.addItem(self.marker)
        right = QVBoxLayout()
        right.addWidget(QLabel("One face"))
        right.addWidget(self.face, 1)
        right.addWidget(QLabel("Loss up to this snapshot"))
        right.addWidget(self.plot, 1)
        middle = QHBoxLayout()
        middle.addWidget(self.grid, 3)
        middle.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(scrub)
        layout.addLayout(middle, 1)
        layout.addWidget(QLabel("Morph (slerp) between the two seeds"))
        layout.addWidget(self.morph)

    @staticmethod
    def _seed_box(tip: str, value: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(0, MAX_SEED)
        box.setValue(value)
        box.setToolTip(tip)
        return box

    # ------------------------------------------------------------------ run folder
    def open_run(self, run_dir: str | Path) -> Task:
        """Watch ``run_dir``: read it now and every few seconds."""
        self.state.set_run(Path(run_dir))
        self.run_label.setText(str(run_dir))
        if self.isVisible():
            self.poll.start()
        return self.reload()

    def reload(self) -> Task | None:
        run_dir = self.state.run_dir
        if run_dir is None or self.jobs.is_busy("read"):
            return None

        def done(result) -> None:  # noqa: ANN001 - (snapshots, metrics)
            if self.state.run_dir == run_dir:
                self.state.update(*result)

        def failed(message: str) -> None:
            self.poll.stop()
            self.session.report_error("Cannot read the run folder", message)

        return self.jobs.submit("read", lambda _ctx: read_timeline(run_dir), on_result=done, on_error=failed)

    def _on_training_checkpoint(self, path: Path) -> None:
        run_dir = Path(path).parent
        if self.state.run_dir is None:
            self.open_run(run_dir)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.state.run_dir is not None:  # a hidden tab neither polls nor renders
            self.poll.start()
            self.reload()
            self._request()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().hideEvent(event)
        self.poll.stop()
        self.play_button.setChecked(False)

    def _ask_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open run folder", str(self.state.run_dir or Path.home()))
        if folder:
            self.open_run(folder)

    # ------------------------------------------------------------------ drawing
    def _on_snapshots(self) -> None:
        count = len(self.state.snapshots)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.setValue(max(0, self.state.index))
        self.slider.blockSignals(False)
        self.slider.setEnabled(count > 1)
        self.export_button.setEnabled(count > 0)
        if not count:
            self.step_label.setText("no snapshots yet" if self.state.run_dir else "")

    def _request(self) -> None:
        snapshot, view, rows, models = self.state.current, self.state.view, list(self.state.metrics), self.models
        if snapshot is None or not self.isVisible():
            return
        self.slider.blockSignals(True)
        self.slider.setValue(self.state.index)
        self.slider.blockSignals(False)
        self.jobs.submit("render", lambda _ctx: render_frame(models.get(snapshot.path), snapshot.step, view, rows),
                         on_result=self._on_rendered, show_superseded=True,
                         on_error=lambda msg: self.session.report_error("Cannot draw this snapshot", msg))

    def _on_rendered(self, frame: TimelineFrame) -> None:
        self.shown = frame
        view = self.state.view
        ncols = max(1, round(math.sqrt(len(view.seeds))))
        self.grid.set_faces(frame.grid, ncols=ncols, tooltips=[f"seed {s}" for s in view.seeds])
        self.face.set_faces(frame.face[None], ncols=1)
        self.morph.set_faces(frame.morph, ncols=len(frame.morph))
        total = self.state.snapshots[-1].step if self.state.snapshots else frame.step
        self.step_label.setText(f"step {frame.step} of {total}  ({self.state.index + 1}/{len(self.state.snapshots)})")
        for i, (name, (steps, values)) in enumerate(frame.losses.items()):
            curve = self.curves.get(name)
            if curve is None:
                curve = self.curves[name] = self.plot.plot(name=name, pen=pg.mkPen(_COLOURS[i % len(_COLOURS)]))
            curve.setData(steps, values)
        for name, curve in self.curves.items():
            if name not in frame.losses:  # nothing logged yet at this snapshot
                curve.setData([], [])
        self.marker.setValue(frame.step)
        # The whole run's steps on a fixed axis: scrubbing shows the curves grow, and a run with one
        # snapshot at step 0 shows 0..1 instead of an axis centred on zero.
        self.plot.setXRange(0, max(1, total), padding=0.02)
        self.rendered.emit()

    def plotted_points(self) -> dict[str, int]:
        """How many logged points each loss curve shows (tests read what the plot draws)."""
        counts = {}
        for name, curve in self.curves.items():
            x = curve.getData()[0]
            counts[name] = 0 if x is None else len(x)
        return counts

    # ------------------------------------------------------------------ play and export
    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            if self.state.index >= len(self.state.snapshots) - 1:
                self.state.show(0)
            self.player.start()
        else:
            self.player.stop()

    def _advance(self) -> None:
        if self.state.index >= len(self.state.snapshots) - 1:
            self.play_button.setChecked(False)
        else:
            self.state.show(self.state.index + 1)

    def export_gif(self, path: str | Path) -> Task | None:
        """The fixed-seed grid of every snapshot as a GIF (with its recipe), written in a worker."""
        snapshots, view = list(self.state.snapshots), self.state.view
        if not snapshots:
            self.session.report_error("Nothing to export", "This run has no snapshots yet.")
            return None
        ncols = max(1, round(math.sqrt(len(view.seeds))))
        return self.jobs.submit(f"save {path}", lambda _ctx: export_timeline_gif(snapshots, view, ncols, Path(path)),
                                on_result=lambda p: self.session.status_message.emit(f"Saved {p}"),
                                on_error=lambda msg: self.session.report_error("Cannot export the timeline", msg))

    def _ask_gif(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export timeline GIF", "timeline.gif", "GIF animations (*.gif)")
        if path:
            self.export_gif(path if path.lower().endswith(".gif") else path + ".gif")

    def shutdown(self) -> None:
        self.poll.stop()
        self.player.stop()
        self.jobs.cancel("render")
        self.jobs.cancel("read")
        self.jobs.shutdown(cancel=False)  # exports finish

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)
