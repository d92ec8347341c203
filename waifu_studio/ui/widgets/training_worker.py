"""Training in a QThread: the worker forwards the trainer's hooks as Qt signals, nothing more.

The :class:`Trainer` knows nothing about Qt; :class:`TrainingWorker` builds the data set and the
trainer and turns every hook call into a signal carrying plain data (numpy arrays, dataclasses).
:class:`TrainingController` owns the thread, wired once with the canonical five connections.

The run-folder helpers at the bottom (``poll_run_folder``) are Qt-free: they read only what
changed since the last poll, so watching a long CLI run stays cheap.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ...core.config import RunConfig
from ...core.data import load_dataset
from ...core.errors import WaifuError
from ...core.training import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    SAMPLES_DIR,
    StepMetrics,
    Trainer,
    TrainingHooks,
    read_metrics,
    read_run_config,
)
from ..workers import track_thread


def describe_training_error(err: BaseException, batch_size: int | None = None) -> str:
    """A message a person can act on; out-of-memory always suggests a smaller batch."""
    batch = f" at batch size {batch_size}" if batch_size else ""
    if isinstance(err, WaifuError):
        return str(err)
    if isinstance(err, torch.OutOfMemoryError):
        return (f"The device ran out of memory{batch}. Try a smaller batch size (or a smaller width or "
                "resolution). The last checkpoint is kept.")
    if isinstance(err, MemoryError):
        return f"The computer ran out of memory{batch}. Try a smaller batch size or fewer demo faces."
    return f"{type(err).__name__}: {err}"


class TrainingWorker(QObject):
    """Loads the faces, builds a :class:`Trainer` and runs it; every hook becomes a signal."""

    data_progress = Signal(int, int)  # done, total
    run_config = Signal(object)  # RunConfig actually used (resume reads it from the folder)
    history = Signal(object)  # list[dict]: rows already logged (resume)
    metrics = Signal(object)  # StepMetrics
    sample = Signal(int, object)  # step, (N, H, W, 3) uint8
    checkpoint = Signal(str, int)  # path, step
    log = Signal(str)
    failed = Signal(str)
    done = Signal(object)  # TrainResult
    finished = Signal()

    def __init__(self, run_dir: Path, config: RunConfig | None, resume: bool,
                 stop: threading.Event, pause: threading.Event) -> None:
        super().__init__()
        self.run_dir, self.config, self.resume = Path(run_dir), config, resume
        self.stop_event, self.pause_event = stop, pause

    @Slot()
    def run(self) -> None:
        batch_size: int | None = None
        try:
            config = read_run_config(self.run_dir) if self.resume else self.config
            assert config is not None
            batch_size = config.train.batch_size
            self.run_config.emit(config)
            dataset = load_dataset(config.data, progress=self.data_progress.emit, cancel=self.stop_event)
            self.log.emit(f"data: {dataset.summary()} ({config.data.source})")
            if self.stop_event.is_set():
                self.log.emit("stopped before training started")
                return
            hooks = TrainingHooks(
                stop=self.stop_event, pause=self.pause_event,
                on_metrics=self.metrics.emit, on_sample=self.sample.emit,
                on_checkpoint=lambda path, step: self.checkpoint.emit(str(path), step),
                on_log=self.log.emit)
            trainer = Trainer(config, dataset.images, self.run_dir, hooks, resume=self.resume)
            batch_size = trainer.batch_size
            if self.resume:
                self.history.emit(read_metrics(self.run_dir))
            self.done.emit(trainer.run())
        except Exception as err:  # noqa: BLE001 - a thread must report, never raise
            if self.stop_event.is_set() and not isinstance(err, (torch.OutOfMemoryError, MemoryError)):
                self.log.emit(f"stopped: {err}")  # e.g. data loading cancelled by Stop
            else:
                if not isinstance(err, WaifuError):
                    traceback.print_exc()
                self.failed.emit(describe_training_error(err, batch_size))
        finally:
            self.finished.emit()


class _CancelHandle:
    """What ``workers.stop_all`` calls ``cancel()`` on: a clean stop (checkpoint saved)."""

    def __init__(self, stop: threading.Event, pause: threading.Event) -> None:
        self.stop, self.pause = stop, pause

    def cancel(self) -> None:
        self.stop.set()
        self.pause.clear()


class TrainingController(QObject):
    """Owns one training thread at a time. Signals are re-emitted on the GUI thread."""

    data_progress = Signal(int, int)
    run_config = Signal(object)
    history = Signal(object)
    metrics = Signal(object)
    sample = Signal(int, object)
    checkpoint = Signal(str, int)
    log = Signal(str)
    failed = Signal(str)
    done = Signal(object)
    started = Signal()
    finished = Signal()  # the thread is over (finished, stopped or failed)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._stop = threading.Event()
        self._pause = threading.Event()

    # ------------------------------------------------------------------ control
    def start(self, run_config: RunConfig, run_dir: str | os.PathLike) -> None:
        """Train ``run_config`` into the new run folder ``run_dir``."""
        self._launch(Path(run_dir), run_config, resume=False)

    def resume(self, run_dir: str | os.PathLike) -> None:
        """Continue the run in ``run_dir`` from its last checkpoint."""
        self._launch(Path(run_dir), None, resume=True)

    def pause(self) -> None:
        self._pause.set()

    def unpause(self) -> None:
        self._pause.clear()

    def is_paused(self) -> bool:
        return self._pause.is_set()

    def stop(self) -> None:
        """Ask the trainer to stop; it saves a checkpoint and returns."""
        self._stop.set()
        self._pause.clear()

    def is_running(self) -> bool:
        try:
            return self._thread is not None and self._thread.isRunning()
        except RuntimeError:  # the C++ thread was already deleted
            return False

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until the thread ends (close of the window only). True if it ended."""
        if not self.is_running():
            return True
        assert self._thread is not None
        return self._thread.wait(timeout_ms)

    # ------------------------------------------------------------------ wiring
    def _launch(self, run_dir: Path, config: RunConfig | None, *, resume: bool) -> None:
        if self.is_running():
            raise RuntimeError("a training run is already running")
        self._stop, self._pause = threading.Event(), threading.Event()
        thread = QThread()
        worker = TrainingWorker(run_dir, config, resume, self._stop, self._pause)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit() is thread-safe, and a queued quit would never run while the GUI thread sits in wait().
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        worker.finished.connect(worker.deleteLater)
        thread.finished.connect(thread.deleteLater)
        # Signal-to-signal connections: the controller lives in the GUI thread, so they are queued.
        for name in ("data_progress", "run_config", "history", "metrics", "sample", "checkpoint", "log",
                     "failed", "done"):
            getattr(worker, name).connect(getattr(self, name))
        thread.finished.connect(self._on_thread_finished)
        thread._task = _CancelHandle(self._stop, self._pause)  # type: ignore[attr-defined]
        self._thread, self._worker = thread, worker
        track_thread(thread)  # stop_all() and the tests' thread check see it too
        thread.start()
        self.started.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread = self._worker = None
        self.finished.emit()


# ---------------------------------------------------------------------------- watching a run folder


@dataclass
class RunFolderState:
    """What a watcher already has of a run folder, so each poll reads only what is new."""

    metrics_offset: int = 0
    sample_name: str = ""
    checkpoint_mtime_ns: int = 0


@dataclass
class RunFolderUpdate:
    run_dir: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    sample: np.ndarray | None = None  # the newest sample grid, if it changed
    sample_step: int = -1
    checkpoint: Path | None = None  # set when the checkpoint file changed
    state: RunFolderState = field(default_factory=RunFolderState)
    restarted: bool = False  # metrics.jsonl shrank (the run was resumed): rows are a full re-read


def _read_new_rows(path: Path, offset: int) -> tuple[list[dict[str, Any]], int, bool]:
    """Complete JSON lines after ``offset``; a torn last line is left for the next poll."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [], 0, offset > 0
    restarted = size < offset
    if restarted:
        offset = 0
    if size == offset:
        return [], offset, restarted
    with open(path, "rb") as fh:
        fh.seek(offset)
        chunk = fh.read(size - offset)
    end = chunk.rfind(b"\n") + 1  # only whole lines
    rows = []
    for line in chunk[:end].splitlines():
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows, offset + end, restarted


def poll_run_folder(run_dir: str | os.PathLike, state: RunFolderState) -> RunFolderUpdate:
    """New metric rows, the newest sample grid and a changed checkpoint of ``run_dir`` (no Qt)."""
    from PIL import Image

    root = Path(run_dir)
    new = RunFolderState(state.metrics_offset, state.sample_name, state.checkpoint_mtime_ns)
    update = RunFolderUpdate(root, state=new)
    update.rows, new.metrics_offset, update.restarted = _read_new_rows(root / METRICS_NAME, state.metrics_offset)
    try:
        names = sorted(e.name for e in os.scandir(root / SAMPLES_DIR) if e.name.startswith("step_")
                       and e.name.endswith(".png"))
    except FileNotFoundError:
        names = []
    if names and names[-1] != state.sample_name:
        try:
            with Image.open(root / SAMPLES_DIR / names[-1]) as im:
                update.sample = np.asarray(im.convert("RGB"))
            update.sample_step = int(names[-1][5:-4])
            new.sample_name = names[-1]
        except (OSError, ValueError):
            pass  # half-written: the next poll gets it
    try:
        mtime = (root / CHECKPOINT_NAME).stat().st_mtime_ns
    except FileNotFoundError:
        mtime = 0
    if mtime and mtime != state.checkpoint_mtime_ns:
        update.checkpoint = root / CHECKPOINT_NAME
        new.checkpoint_mtime_ns = mtime
    return update


def load_sample_grids(run_dir: str | os.PathLike, max_frames: int = 200) -> np.ndarray:
    """The run's sample grids in step order, (K, H, W, 3), evenly thinned to ``max_frames`` (last kept)."""
    from PIL import Image

    paths = sorted((Path(run_dir) / SAMPLES_DIR).glob("step_*.png"))
    if not paths:
        raise WaifuError(f"no sample grids in {Path(run_dir) / SAMPLES_DIR} yet")
    if len(paths) > max_frames:
        keep = np.unique(np.linspace(0, len(paths) - 1, max_frames).round().astype(int))
        paths = [paths[i] for i in keep]
    frames = []
    for path in paths:
        with Image.open(path) as im:
            frames.append(np.asarray(im.convert("RGB")))
    shape = frames[-1].shape
    return np.stack([f for f in frames if f.shape == shape])  # a resized run would break the stack


def metrics_row(metrics: StepMetrics) -> dict[str, Any]:
    """The same dict a metrics.jsonl line holds, so live and watched runs draw the same way."""
    return metrics.to_json()
